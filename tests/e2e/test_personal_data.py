"""Personal data never rests in clear (event store, every table, the topic, the logs), and
erasure shreds it: the person reads as erased, the amounts stay, no key the platform holds
opens the ciphertexts any more, and stored idempotent responses hold nothing readable."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from consumers.audit import read_topic
from ledger.container import Container
from ledger.privacy import PREFIX, SubjectErased, unseal
from tests.support.stack import Roles, territory_code

TEXT_TYPES = ("text", "character varying", "character", "bytea", "jsonb", "json", "name")
SEALED = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_\-=]+")


def _secrets() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"full_name": f"Giuseppina Sbarbaro{tag}",
            "display_name": f"Giusi Sbarbaro{tag}",
            "email": f"giusi.{tag}@example.it",
            "fiscal_code": f"SBRGPP80A41{tag[:5].upper()}",
            "phone": f"+39 0383 {int(tag, 16) % 10**6:06d}",
            "request_description": f"Dialisi tre volte a settimana, vive sola {tag}",
            "contribution_description": f"Posso leggere ad alta voce ai vicini {tag}",
            "note": f"Accompagnata al reparto nefrologia {tag}",
            "reversal_reason": f"Ricoverata in ospedale, visita annullata {tag}",
            "cancel_reason": f"Trasferita in RSA a Casteggio {tag}",
            "withdrawal_reason": f"Sfrattata, non ha più la sala {tag}"}


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _database_texts(database_url: str) -> dict[str, list[str]]:
    """Every text-like value of every user table in every schema, by table."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE t.table_type = 'BASE TABLE' AND c.data_type = ANY(%s)"
            " AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND c.table_schema NOT LIKE 'pg_toast%%'", (list(TEXT_TYPES),)).fetchall()
        for schema, table, column in columns:
            query = sql.SQL("SELECT {} FROM {}.{} WHERE {} IS NOT NULL").format(
                sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table),
                sql.Identifier(column))
            values = [_as_text(row[0]) for row in conn.execute(query)]
            found.setdefault(f"{schema}.{table}.{column}", []).extend(values)
    return found


def _leaks(texts: dict[str, list[str]], secrets: dict[str, str]) -> list[tuple[str, str]]:
    needles = {name: value.lower() for name, value in secrets.items()}
    return [(where, name) for where, values in texts.items() for value in values
            for name, needle in needles.items()
            if needle in value.lower() or json.dumps(needle)[1:-1] in value.lower()]


def _scan_everything(roles: Roles, code: str, secrets: dict[str, str], ets_name: str) -> None:
    texts = _database_texts(roles.database_url)
    assert {"public.ledger_events.state", "public.idempotency.body_redacted"} <= set(texts)
    states = texts["public.ledger_events.state"]
    assert all(json.loads(s) is not None for s in states[:50])  # plain JSON, so a scan means it
    records = [v for v in read_topic(roles.bootstrap, roles.settings.topic)
               if v["source"] == f"/territories/{code}"]
    assert len(records) >= 8
    texts["kafka"] = [json.dumps(v, ensure_ascii=False) for v in records]
    texts["logs"] = [p.read_text(errors="replace") for p in roles.log_dir.glob("*.log")]
    assert _leaks(texts, secrets) == []
    # control: the scan does see clear text in each place (an ETS's name is public)
    seen = {where.split(".")[0] for where, _ in _leaks(texts, {"ets": ets_name})}
    assert {"public", "kafka"} <= seen and any(w.startswith("proj_") for w in seen), seen
    # the sealed values are really there, as ciphertext
    assert sum(len(SEALED.findall(r)) for r in texts["kafka"]) >= 5


def _ciphertexts(database_url: str, aggregate_ids: list[str]) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT state FROM ledger_events WHERE originator_id = ANY(%s)",
                            ([uuid.UUID(i) for i in aggregate_ids],)).fetchall()
    return [m for (state,) in rows for m in SEALED.findall(bytes(state).decode())]


def _post(http: httpx.Client, path: str, body: dict[str, Any], key: str | None = None
          ) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    answer = http.post(path, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_personal_data_is_sealed_everywhere_and_erasure_shreds_it(
        http: httpx.Client, roles: Roles, container: Container) -> None:
    secrets = _secrets()
    code = territory_code()
    base = f"/v1/territories/{code}"
    _post(http, "/v1/territories", {"code": code, "name": "Voghera"})
    ets_name = f"Auser Voghera {uuid.uuid4().hex[:8]}"
    ets = _post(http, f"{base}/actors", {"kind": "ets", "display_name": ets_name})
    citizen_body = {"kind": "citizen", "display_name": secrets["display_name"],
                    "personal": {k: secrets[k] for k in ("full_name", "email", "fiscal_code",
                                                         "phone")}}
    citizen = _post(http, f"{base}/actors", citizen_body, key=f"actor-{code}")
    assert citizen["display_name"] == secrets["display_name"]
    assert citizen["personal"]["fiscal_code"] == secrets["fiscal_code"]
    cid = citizen["id"]
    given = _post(http, f"{base}/contributions", {
        "contributor_id": cid, "resource_kind": "time", "unit": "minute", "quantity": 120,
        "theme": "cts.i", "description": secrets["contribution_description"]}, key=f"c-{code}")
    offer = _post(http, f"{base}/contributions", {
        "contributor_id": ets["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 600, "theme": "cts.a"})
    need = _post(http, f"{base}/requests", {
        "beneficiary_id": cid, "resource_kind": "time", "unit": "minute", "quantity": 300,
        "theme": "cts.a", "urgency": "high",
        "description": secrets["request_description"]}, key=f"r-{code}")
    assert need["description"] == secrets["request_description"]
    match = _post(http, f"{base}/matches", {"contribution_id": offer["id"],
                                            "request_id": need["id"], "quantity": 240})
    done = _post(http, f"{base}/matches/{match['id']}/fulfilments",
                 {"quantity": 90, "note": secrets["note"]}, key=f"f-{code}")
    assert done["note"] == secrets["note"]
    spare = _post(http, f"{base}/matches/{match['id']}/fulfilments", {"quantity": 30})
    reversal = _post(http, f"{base}/fulfilments/{spare['id']}/reverse",
                     {"reason": secrets["reversal_reason"]})
    assert reversal["reversal_reason"] is None or reversal["reversal_reason"] == \
        secrets["reversal_reason"]
    second = _post(http, f"{base}/matches", {"contribution_id": offer["id"],
                                             "request_id": need["id"], "quantity": 10})
    _post(http, f"{base}/matches/{second['id']}/cancel", {"reason": secrets["cancel_reason"]})
    last = _post(http, f"{base}/contributions/{given['id']}/withdraw",
                 {"reason": secrets["withdrawal_reason"]})
    seen = http.get(f"{base}/fulfilments/{spare['id']}", params={"min_position": last["position"]})
    assert seen.json()["reversal_reason"] == secrets["reversal_reason"]
    cancelled = http.get(f"{base}/matches/{second['id']}").json()
    assert cancelled["cancel_reason"] == secrets["cancel_reason"]
    withdrawn = http.get(f"{base}/contributions/{given['id']}").json()
    assert withdrawn["withdrawal_reason"] == secrets["withdrawal_reason"]

    read = http.get(f"{base}/actors/{cid}", params={"min_position": last["position"]})
    assert read.status_code == 200, read.text
    assert read.json()["personal"]["email"] == secrets["email"]
    before = http.get(f"{base}/actors/{cid}/balances").json()
    assert before["balances"]
    _scan_everything(roles, code, secrets, ets_name)

    erased = http.post(f"{base}/actors/{cid}/erase")
    assert erased.status_code == 201, erased.text
    position = erased.json()["position"]
    assert erased.json()["erased"] is True
    assert erased.json()["display_name"] != secrets["display_name"]
    assert erased.json()["personal"] is None

    actor = http.get(f"{base}/actors/{cid}", params={"min_position": position}).json()
    assert actor["erased"] is True and actor["personal"] is None
    assert actor["display_name"] not in (None, secrets["display_name"])
    # Facts and amounts stay; what the person still asked for is closed with the erasure.
    after = http.get(f"{base}/actors/{cid}/balances").json()
    assert after == before | {"balances": [b | {"requested_open": 0} for b in before["balances"]]}
    assert any(b["requested_open"] for b in before["balances"])
    request_now = http.get(f"{base}/requests/{need['id']}").json()
    assert request_now["status"] == "withdrawn"
    assert request_now["description"] is None
    assert (request_now["quantity"], request_now["reserved"], request_now["received"]) == \
        (300, 150, 90)
    contribution_now = http.get(f"{base}/contributions/{given['id']}").json()
    assert (contribution_now["description"], contribution_now["quantity"],
            contribution_now["pledged"], contribution_now["withdrawal_reason"]) == (None, 120, 0,
                                                                                    None)
    fulfilment_now = http.get(f"{base}/fulfilments/{done['id']}").json()
    assert (fulfilment_now["note"], fulfilment_now["quantity"]) == (None, 90)

    with psycopg.connect(roles.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM subject_keys WHERE subject_id = %s",
                            (cid,)).fetchone() == (0,)
        keys = conn.execute("SELECT subject_id, key FROM subject_keys").fetchall()
        stored = conn.execute("SELECT body_sealed, fingerprint, body_redacted FROM idempotency"
                              " WHERE subject_id = %s", (cid,)).fetchall()
    # the four creations sent with a key are stored, and none of them can be opened
    assert len(stored) == 4
    assert all(sealed is None and fingerprint is None for sealed, fingerprint, _ in stored)

    ciphertexts = _ciphertexts(roles.database_url, [cid, given["id"], need["id"], done["id"],
                                                    spare["id"], second["id"]])
    # name, personal, two descriptions, the note, withdrawal, reversal and cancel reasons
    assert len(ciphertexts) == 8
    subject = uuid.UUID(cid)
    for sealed in ciphertexts:
        with pytest.raises(SubjectErased):
            unseal(container.keys.get(subject), subject, sealed)
        for other, key in keys:
            for aad in (subject, other):
                with pytest.raises(SubjectErased):
                    unseal(bytes(key), aad, sealed)

    # a retry of the idempotent creation still answers, with nothing personal in it
    replay = http.post(f"{base}/actors", json=citizen_body,
                       headers={"Idempotency-Key": f"actor-{code}"})
    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] == cid
    assert secrets["display_name"] not in replay.text and secrets["email"] not in replay.text
    # the erasure itself is on the topic, and still nothing readable is anywhere
    http.get(f"{base}/actors/{cid}", params={"min_position": position}).raise_for_status()
    _scan_everything(roles, code, secrets, ets_name)


def test_erasing_twice_or_acting_for_an_erased_actor_is_a_conflict(http: httpx.Client) -> None:
    code = territory_code()
    base = f"/v1/territories/{code}"
    _post(http, "/v1/territories", {"code": code, "name": "Crema"})
    cid = _post(http, f"{base}/actors", {"kind": "citizen", "display_name": "Mario"})["id"]
    _post(http, f"{base}/actors/{cid}/erase", {})
    again = http.post(f"{base}/actors/{cid}/erase", json={})
    assert again.status_code == 409 and again.json()["type"].endswith("actor-erased")
    pledge = http.post(f"{base}/contributions", json={
        "contributor_id": cid, "resource_kind": "time", "unit": "minute", "quantity": 60,
        "theme": "cts.a"})
    assert pledge.status_code == 409, pledge.text
