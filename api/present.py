"""Public views of items: amounts in clear, personal data opened with the subject's key or
shown as erased. Works on projection rows and on freshly written aggregates alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import access
from ledger.access import Principal, Role
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
                ("case_owner_id", row.get("case_owner_id")), ("zone", row.get("zone")),
                ("vat_number", row.get("vat_number")), ("erased", erased))


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
                ("cost_eur_cent", row.get("cost_eur_cent")),
                ("funding_source", row.get("funding_source")), ("programme", row.get("programme")),
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
                ("needed_by", row.get("needed_by")), ("programme", row.get("programme")),
                ("withdrawal_reason", _open(keys, row["beneficiary_id"],
                                            row.get("end_reason_sealed"))))


def match(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    open_ = row["status"] not in ("cancelled", "closed", "rejected")
    return _ids(("id", row["id"]), ("territory", row["territory"]),
                ("contribution_id", row["contribution_id"]), ("request_id", row["request_id"]),
                ("contributor_id", row["contributor_id"]), ("beneficiary_id", row["beneficiary_id"]),
                ("resource_kind", row["resource_kind"]), ("unit", row["unit"]),
                ("theme", row.get("theme")), ("quantity", row["quantity"]),
                ("fulfilled", row["fulfilled"]),
                ("remaining", row["quantity"] - row["fulfilled"] if open_ else 0),
                ("status", row["status"]), ("proposed_by", row.get("proposed_by")),
                ("approvals", list(row.get("approvals") or [])),
                ("approvals_required", row.get("approvals_required") or 0),
                ("programme", row.get("programme")),
                ("cancel_reason", _open(keys, row["beneficiary_id"],
                                        row.get("cancel_reason_sealed"))),
                ("reject_reason", _open(keys, row["beneficiary_id"],
                                        row.get("reject_reason_sealed"))))


def fulfilment(row: Mapping[str, Any], keys: Mapping[uuid.UUID, bytes]) -> dict[str, Any]:
    return _ids(("id", row["id"]), ("territory", row["territory"]), ("match_id", row["match_id"]),
                ("contribution_id", row["contribution_id"]), ("request_id", row["request_id"]),
                ("contributor_id", row["contributor_id"]), ("beneficiary_id", row["beneficiary_id"]),
                ("resource_kind", row["resource_kind"]), ("unit", row["unit"]),
                ("quantity", row["quantity"]), ("fulfilled_on", row.get("fulfilled_on")),
                ("programme", row.get("programme")), ("satisfaction", row.get("satisfaction")),
                ("change", row.get("change")),
                ("note", _open(keys, row["beneficiary_id"], row.get("note_sealed"))),
                ("comment", _open(keys, row["beneficiary_id"], row.get("comment_sealed"))),
                ("reversed", bool(row.get("reversed"))),
                ("reversal_reason", _open(keys, row["beneficiary_id"],
                                          row.get("reversal_reason_sealed"))))


PRESENTERS = {"actors": actor, "contributions": contribution, "requests": request,
              "matches": match, "fulfilments": fulfilment}
SUBJECT_OF = {"actors": "id", "contributions": "contributor_id", "requests": "beneficiary_id",
              "matches": "beneficiary_id", "fulfilments": "beneficiary_id"}
PERSONAL_FIELDS = {"actors": ("display_name", "personal"),
                   "contributions": ("description", "withdrawal_reason"),
                   "requests": ("description", "withdrawal_reason"),
                   "matches": ("cancel_reason", "reject_reason"),
                   "fulfilments": ("note", "reversal_reason", "comment")}
SEALED_COLUMNS = {"actors": ("display_name_sealed", "personal_sealed"),
                  "contributions": ("description_sealed", "end_reason_sealed"),
                  "requests": ("description_sealed", "end_reason_sealed"),
                  "matches": ("cancel_reason_sealed", "reject_reason_sealed"),
                  "fulfilments": ("note_sealed", "reversal_reason_sealed", "comment_sealed")}
# A company never learns who received its help.
BENEFICIARY_FIELDS = ("beneficiary_id", "request_id")
Links = Callable[[set[uuid.UUID]], Mapping[uuid.UUID, Mapping[str, Any]]]


@dataclass
class Shown:
    """Presented items and the data subjects whose personal data they show in clear."""

    items: list[dict[str, Any]]
    opened: set[uuid.UUID] = field(default_factory=set)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def readable_subjects(principal: Principal, subjects: set[uuid.UUID], links: Links) -> set[uuid.UUID]:
    """Whose personal data this principal may read in clear (access.may_read_personal)."""
    if principal.role is Role.MUNICIPALITY:
        return subjects
    if principal.role is not Role.ETS or not subjects:
        return set()
    known = links(subjects)
    readable = set()
    for subject in subjects:
        owner = known.get(subject, {}).get("case_owner_id")
        cases = frozenset({subject} if owner is None else {subject, owner})
        if access.may_read_personal(principal, cases):
            readable.add(subject)
    return readable


def present_for(principal: Principal, table: str, rows: Sequence[Mapping[str, Any]],
                key_store: KeyStore, links: Links) -> Shown:
    """Items as this principal may see them: personal fields in clear only for those who may
    read them, and absent (not null, not ciphertext) for everyone else."""
    subject_field = SUBJECT_OF[table]
    subjects = {_uuid(row[subject_field]) for row in rows if row.get(subject_field)}
    if table == "actors":  # the rows say who follows them (a fresh write is not projected yet)
        own = {_uuid(row["id"]): row for row in rows}
        readable = readable_subjects(principal, subjects, lambda ids: own)
    else:
        readable = readable_subjects(principal, subjects, links)
    sealed = {_uuid(row[subject_field]) for row in rows if row.get(subject_field)
              and any(row.get(c) for c in SEALED_COLUMNS[table])}
    keys = key_store.get_many(readable & sealed)  # no query when nothing is sealed
    shown = Shown([])
    for row in rows:
        subject = _uuid(row[subject_field]) if row.get(subject_field) else None
        body = PRESENTERS[table](row, keys if subject in readable else {})
        if subject in readable:
            if subject in keys and any(row.get(c) for c in SEALED_COLUMNS[table]):
                shown.opened.add(subject)
        else:
            public_name = table == "actors" and row.get("display_name")
            for name in PERSONAL_FIELDS[table]:
                if not (public_name and name == "display_name"):
                    body.pop(name, None)
            if table == "actors":
                body["erased"] = bool(row.get("erased"))
        if principal.role is Role.COMPANY:
            for name in BENEFICIARY_FIELDS:
                body.pop(name, None)
        shown.items.append(body)
    return shown


def aggregate_row(aggregate: Any) -> dict[str, Any]:
    """An aggregate's attributes under the projection's column names."""
    row = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    row["id"] = aggregate.id
    return row
