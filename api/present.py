"""Public views of items: amounts in clear, personal data opened with the subject's key or
shown as erased. Works on projection rows and on freshly written aggregates alike."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ledger.privacy import ERASED, KeyStore, SubjectErased, unseal


def _open(keys: Mapping[uuid.UUID, bytes], subject: Any, sealed: str | None) -> Any:
    if sealed is None or subject is None:
        return None
    subject = subject if isinstance(subject, uuid.UUID) else uuid.UUID(str(subject))
    try:
        return unseal(keys.get(subject), subject, sealed)
    except SubjectErased:
        return None


def _ids(*values: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in values}


def actor(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    subject = row["id"]
    erased = bool(row.get("erased")) or subject not in keys
    name = row.get("display_name") or _open(keys, subject, row.get("display_name_sealed"))
    return _ids(("id", row["id"]), ("territory", row["territory"]), ("kind", row["kind"]),
                ("display_name", name if name is not None else (ERASED if erased else None)),
                ("personal", _open(keys, subject, row.get("personal_sealed"))),
                ("runts_id", row.get("runts_id")), ("employer_id", row.get("employer_id")),
                ("erased", erased))


def contribution(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    pledged = row["quantity"] - row["taken_back"]
    return _ids(("id", row["id"]), ("territory", row["territory"]),
                ("contributor_id", row["contributor_id"]), ("employer_id", row.get("employer_id")),
                ("resource_kind", row["resource_kind"]), ("unit", row["unit"]),
                ("quantity", row["quantity"]), ("pledged", pledged), ("reserved", row["reserved"]),
                ("delivered", row["delivered"]),
                ("available", pledged - row["reserved"] - row["delivered"]),
                ("status", row["status"]), ("theme", row["theme"]),
                ("description", _open(keys, row["contributor_id"], row.get("description_sealed"))),
                ("motivation", row.get("motivation")), ("paid_time", row.get("paid_time")),
                ("valid_until", row.get("valid_until")), ("project_ref", row.get("project_ref")),
                ("withdrawal_reason", _open(keys, row["contributor_id"],
                                            row.get("end_reason_sealed"))))


def request(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    requested = row["quantity"] - row["taken_back"]
    return _ids(("id", row["id"]), ("territory", row["territory"]),
                ("beneficiary_id", row["beneficiary_id"]), ("resource_kind", row["resource_kind"]),
                ("unit", row["unit"]), ("quantity", row["quantity"]), ("requested", requested),
                ("reserved", row["reserved"]), ("received", row["received"]),
                ("open", requested - row["reserved"] - row["received"]),
                ("status", row["status"]), ("theme", row["theme"]),
                ("urgency", row.get("urgency")),
                ("description", _open(keys, row["beneficiary_id"], row.get("description_sealed"))),
                ("needed_by", row.get("needed_by")),
                ("withdrawal_reason", _open(keys, row["beneficiary_id"],
                                            row.get("end_reason_sealed"))))


def match(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    open_ = row["status"] not in ("cancelled", "closed")
    return _ids(("id", row["id"]), ("territory", row["territory"]),
                ("contribution_id", row["contribution_id"]), ("request_id", row["request_id"]),
                ("contributor_id", row["contributor_id"]), ("beneficiary_id", row["beneficiary_id"]),
                ("resource_kind", row["resource_kind"]), ("unit", row["unit"]),
                ("theme", row.get("theme")), ("quantity", row["quantity"]),
                ("fulfilled", row["fulfilled"]),
                ("remaining", row["quantity"] - row["fulfilled"] if open_ else 0),
                ("status", row["status"]),
                ("cancel_reason", _open(keys, row["beneficiary_id"],
                                        row.get("cancel_reason_sealed"))))


def fulfilment(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    return _ids(("id", row["id"]), ("territory", row["territory"]), ("match_id", row["match_id"]),
                ("contribution_id", row["contribution_id"]), ("request_id", row["request_id"]),
                ("contributor_id", row["contributor_id"]), ("beneficiary_id", row["beneficiary_id"]),
                ("resource_kind", row["resource_kind"]), ("unit", row["unit"]),
                ("quantity", row["quantity"]), ("fulfilled_on", row.get("fulfilled_on")),
                ("note", _open(keys, row["beneficiary_id"], row.get("note_sealed"))),
                ("reversed", bool(row.get("reversed"))),
                ("reversal_reason", _open(keys, row["beneficiary_id"],
                                          row.get("reversal_reason_sealed"))))


PRESENTERS = {"actors": actor, "contributions": contribution, "requests": request,
              "matches": match, "fulfilments": fulfilment}
SUBJECT_OF = {"actors": "id", "contributions": "contributor_id", "requests": "beneficiary_id",
              "matches": "beneficiary_id", "fulfilments": "beneficiary_id"}
PERSONAL_FIELDS = {"actors": ("display_name", "personal"),
                   "contributions": ("description", "withdrawal_reason"),
                   "requests": ("description", "withdrawal_reason"), "matches": ("cancel_reason",),
                   "fulfilments": ("note", "reversal_reason")}


def present(table: str, row: Mapping[str, Any], key_store: KeyStore) -> dict[str, Any]:
    subject_field = SUBJECT_OF[table]
    subject = row.get(subject_field) if subject_field else None
    keys = key_store.get_many({subject}) if subject else {}
    return PRESENTERS[table](row, keys)


def present_many(table: str, rows: list[Mapping[str, Any]],
                 key_store: KeyStore) -> list[dict[str, Any]]:
    """Present a page of rows, fetching the keys of all their data subjects at once."""
    subject_field = SUBJECT_OF[table]
    subjects = {row[subject_field] for row in rows if subject_field and row.get(subject_field)}
    keys = key_store.get_many(subjects)
    return [PRESENTERS[table](row, keys) for row in rows]


def aggregate_row(aggregate: Any) -> dict[str, Any]:
    """An aggregate's attributes under the projection's column names."""
    row = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    row["id"] = aggregate.id
    return row
