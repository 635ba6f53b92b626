"""Proofs anyone can check, end to end: a 10,000-record territory written while the ledger
runs, then checkpoints and proofs fetched over HTTP and checked with the standalone verifier
(tools/verify_proof.py) only. Every record's inclusion verifies; a consistency proof links
every earlier checkpoint (as a witness saw them on the checkpoint topic) to the latest;
erasure breaks no proof; the AsyncAPI document's schemas fit every record of the topic."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from consumers.audit import read_topic
from consumers.topic import committed_messages
from ledger.access import Role
from ledger.container import Container
from ledger.domain import Actor, Contribution, Fulfilment, LedgerAggregate, Match, Request
from ledger.privacy import seal
from tests.support.auth import bearer, make_key
from tests.support.stack import Roles, territory_code
from tests.unit.test_verify_proof import TOOL, vp

pytestmark = pytest.mark.e2e
RECORDS = 10_000


@dataclass
class Written:
    code: str
    erased: str
    records: list[dict[str, Any]]
    witnessed: list[str]  # every checkpoint note of the territory on the checkpoint topic
    vkey: str
    latest: str


def _bulk(c: Container, code: str, events: int) -> None:
    """`events` records in one territory, saved a few hundred at a time like bench/workload."""
    app, pending, count, done = c.app, [], 0, 0

    def add(*aggregates: LedgerAggregate) -> None:
        nonlocal count, done
        pending.extend(aggregates)
        count += sum(len(a.pending_events) for a in aggregates)
        if count - done >= 300:
            app.save(*pending)
            pending.clear()
            done = count
            if done // 2500 != (done - 300) // 2500:
                time.sleep(1.1)  # let the relay sign a checkpoint now and then

    ets = Actor.register(uuid.uuid4(), code, "ets", display_name="Auser", operator_id="bulk")
    person = uuid.uuid4()
    key = c.keys.create(person)
    citizen = Actor.register(person, code, "citizen", display_name_sealed=seal(key, person, "Pia"),
                             operator_id="bulk")
    add(ets, citizen)
    while count + 9 <= events:
        offer = Contribution.pledge(uuid.uuid4(), code, ets.id, "time", "minute", 120, "cts.a",
                                    operator_id="bulk")
        need = Request.post(uuid.uuid4(), code, person, "time", "minute", 60, "cts.a",
                            description_sealed=seal(key, person, "spesa"), operator_id="bulk")
        match = Match.reserve(uuid.uuid4(), offer, need, 60, operator_id="bulk")
        add(offer, need, match, Fulfilment.record(uuid.uuid4(), match, offer, need, 60,
                                                  operator_id="bulk"))
    while count < events:
        add(Contribution.pledge(uuid.uuid4(), code, ets.id, "goods", "item", 1, "cts.a",
                                operator_id="bulk"))
    if pending:
        app.save(*pending)


def _wait(condition: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def _witnessed(bootstrap: str, topic: str, code: str) -> list[str]:
    return [m.value.decode() for _, m in committed_messages(bootstrap, topic)
            if m.key == code.encode()]


@pytest.fixture(scope="module")
def written(http: httpx.Client, roles: Roles, container: Container) -> Written:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Pavia"}).status_code == 201
    t = f"/v1/territories/{code}"
    person = http.post(f"{t}/actors", json={"kind": "citizen", "display_name": "Rosa Colombo",
                                           "personal": {"fiscal_code": "CLMRSO40A41M109K"}})
    assert person.status_code == 201, person.text
    _bulk(container, code, RECORDS - 3)
    erased = http.post(f"{t}/actors/{person.json()['id']}/erase")
    assert erased.status_code == 201, erased.text

    def signed_all() -> str | None:
        answer = http.get(f"{t}/log/checkpoint")
        return answer.text if answer.status_code == 200 and \
            answer.text.split("\n")[1] == str(RECORDS) else None

    latest = _wait(signed_all, "the checkpoint never covered every record")
    records = sorted((v for v in read_topic(roles.bootstrap, roles.settings.topic)
                      if v["source"] == f"/territories/{code}"), key=lambda v: v["seq"])
    assert len(records) == RECORDS
    witnessed = _witnessed(roles.bootstrap, roles.settings.checkpoint_topic_name, code)
    key = http.get(f"{t}/log/key")
    assert key.status_code == 200 and key.headers["content-type"].startswith("text/plain")
    return Written(code, person.json()["id"], records, witnessed, key.text.strip(), latest)


def test_every_record_of_a_10000_record_territory_is_included(http: httpx.Client,
                                                              written: Written) -> None:
    """Every record's inclusion proof, a page of 500 at a time (GET .../log/proofs), and a
    sample through the one-record route (GET .../log/proof/inclusion), all checked with the
    standalone verifier against the signed checkpoint."""
    origin, size, root = vp.open_checkpoint(written.latest, written.vkey)
    assert (origin.rpartition("/")[2], size) == (written.code, RECORDS)
    t = f"/v1/territories/{written.code}/log"

    def verify(proof: dict[str, Any], seq: int) -> None:
        assert (proof["leaf_index"], proof["tree_size"]) == (seq - 1, size)
        leaf = vp.sha(b"\x00" + vp.jcs(written.records[seq - 1]))
        assert vp.inclusion_root(seq - 1, size, leaf, [vp.b64(h) for h in proof["hashes"]]) == root

    verified, after = 0, None
    while True:
        page = http.get(f"{t}/proofs", params={"size": size, "limit": 500} | (
            {"after": after} if after else {}))
        assert page.status_code == 200, page.text
        for proof in page.json()["items"]:
            verified += 1
            verify(proof, verified)
        after = page.json()["next"]
        if after is None:
            break
    assert verified == RECORDS
    rng = random.Random(9)  # noqa: S311
    for seq in [1, 2, 255, 256, 257, 4096, RECORDS - 1, RECORDS, *rng.sample(range(1, RECORDS), 200)]:
        answer = http.get(f"{t}/proof/inclusion", params={"seq": seq, "size": size})
        assert answer.status_code == 200, answer.text
        verify(answer.json(), seq)
    latest = http.get(f"{t}/proof/inclusion", params={"seq": 77})  # size: the latest checkpoint
    assert latest.json() == http.get(f"{t}/proofs", params={"after": 76, "limit": 1}).json()["items"][0]


def test_every_earlier_checkpoint_is_consistent_with_the_latest(
        http: httpx.Client, written: Written, tmp_path: Path) -> None:
    _, size, root = vp.open_checkpoint(written.latest, written.vkey)
    assert written.latest in written.witnessed
    earlier = [n for n in written.witnessed if n != written.latest]
    assert len(earlier) >= 3, "the relay signs as it goes, at most once a second"
    sizes = []
    for note in earlier:
        _, old, old_root = vp.open_checkpoint(note, written.vkey)
        answer = http.get(f"/v1/territories/{written.code}/log/proof/consistency",
                          params={"from": old, "to": size})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["from"], answer.json()["to"]) == (old, size)
        vp.verify_consistency(old, size, old_root, root, [vp.b64(h) for h in answer.json()["hashes"]])
        sizes.append(old)
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # The same with the command an auditor runs, on saved files.
    (tmp_path / "old.checkpoint").write_text(earlier[0])
    (tmp_path / "new.checkpoint").write_text(written.latest)
    proof = http.get(f"/v1/territories/{written.code}/log/proof/consistency",
                     params={"from": sizes[0]})  # `to` defaults to the latest checkpoint
    (tmp_path / "proof.json").write_text(proof.text)
    done = subprocess.run([sys.executable, str(TOOL), "consistency", "old.checkpoint",
                           "new.checkpoint", "--key", written.vkey, "--proof", "proof.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("OK "), done.stdout


def test_offline_proof_files_verify_also_after_erasure(http: httpx.Client, written: Written,
                                                       tmp_path: Path) -> None:
    person = [v["seq"] for v in written.records if v["subject"] == written.erased]
    assert len(person) == 2  # registered, then erased: the ciphertext stays, unreadable
    for seq in [1, 2, 4097, RECORDS, *person]:
        answer = http.get(f"/v1/territories/{written.code}/log/proof/{seq}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        found = vp.verify_record(answer.text, written.vkey)
        assert (found["seq"], found["tree_size"]) == (seq, RECORDS)
    (tmp_path / "record.tlog-proof").write_text(answer.text)
    (tmp_path / "record.json").write_text(json.dumps(written.records[person[-1] - 1]))
    done = subprocess.run([sys.executable, str(TOOL), "record", "record.tlog-proof", "--key",
                           written.vkey, "--record", "record.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and '"type": "it.ledger.actor.erased.v1"' in done.stdout, done.stdout
    text = answer.text.replace(base64.b64encode(vp.jcs(written.records[person[-1] - 1])).decode(),
                               base64.b64encode(vp.jcs(written.records[0])).decode())
    with pytest.raises(ValueError):
        vp.verify_record(text, written.vkey)


def test_proof_routes_answer_bad_and_unknown_input_with_problems(
        http: httpx.Client, written: Written, container: Container) -> None:
    t = f"/v1/territories/{written.code}/log"
    cases = {
        f"{t}/proof/inclusion?seq=0": 422, f"{t}/proof/inclusion?seq=5&size=4": 422,
        f"{t}/proof/inclusion?seq=1&size={RECORDS + 1}": 404,
        f"{t}/proof/inclusion?seq=x": 422, f"{t}/proof/consistency?from=9&to=3": 422,
        f"{t}/proof/consistency?from=0&to=3": 422, f"{t}/proof/consistency": 422,
        f"{t}/proof/consistency?from=1&to={RECORDS + 5}": 404,
        f"{t}/proof/{RECORDS + 1}": 404, f"{t}/proof/0": 422, f"{t}/proof/abc": 422,
        f"{t}/proof/consistency?from={RECORDS}&to={RECORDS}": 200,
        f"{t}/proofs?after=x": 422, f"{t}/proofs?limit=0": 422, f"{t}/proofs?size={RECORDS + 1}": 404,
        f"{t}/proofs?after={RECORDS}": 200, f"{t}/proofs?size=3&after=9": 200,
    }
    for path, status in cases.items():
        answer = http.get(path)
        assert answer.status_code == status, (path, answer.text)
        if status >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json")
    unknown = territory_code()
    assert http.get(f"/v1/territories/{unknown}/log/checkpoint").status_code == 404
    assert http.get(f"/v1/territories/{unknown}/log/key").status_code == 404
    assert http.get(f"/v1/territories/{unknown}/log/proof/1").status_code == 404
    for role, status in ((Role.AUDITOR, 200), (Role.SERVICE, 200), (Role.ETS, 403),
                         (Role.COMPANY, 403)):
        actor = written.erased if role in (Role.ETS, Role.COMPANY) else None
        token = make_key(container.api_keys, role, [written.code], actor)
        answer = http.get(f"{t}/checkpoint", headers=bearer(token))
        assert answer.status_code == status, (role, answer.text)
    other = make_key(container.api_keys, Role.AUDITOR, [territory_code()])
    assert http.get(f"{t}/checkpoint", headers=bearer(other)).status_code == 404
    assert httpx.get(str(http.base_url.join(f"{t}/checkpoint"))).status_code == 401


def test_asyncapi_document_describes_every_record_on_the_topic(http: httpx.Client, roles: Roles,
                                                               written: Written) -> None:
    document = httpx.get(str(http.base_url.join("/asyncapi.json")), timeout=30).json()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert channels["events"]["address"] == roles.settings.topic
    assert channels["checkpoints"]["address"] == roles.settings.checkpoint_topic_name
    messages = document["components"]["messages"]
    validators = {m["name"]: jsonschema_rs.validator_for(m["payload"], validate_formats=True)
                  for m in messages.values() if m["name"] != "checkpoint"}
    values = read_topic(roles.bootstrap, roles.settings.topic)
    assert len(values) >= RECORDS
    seen = set()
    for value in values:
        errors = [e.message for e in validators[value["type"]].iter_errors(value)]
        assert not errors, (value["type"], errors, value)
        seen.add(value["type"])
    assert len(seen) >= 8
    for message in messages.values():
        assert message["bindings"]["kafka"]["key"]["pattern"] == "^[0-9]{6}$"
