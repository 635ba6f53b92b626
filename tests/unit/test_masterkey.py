"""The master keyring: wrapping, associated data, file mode, rotation and retirement."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.masterkey import MasterKeyError, MasterKeyMissing, MasterKeyring


def _key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def test_wrap_unwrap_round_trip(tmp_path: Path) -> None:
    ring = MasterKeyring.open(tmp_path / "master.key")
    subject, key = uuid.uuid4(), _key()
    key_id, wrapped = ring.wrap(subject, key)
    assert key_id == ring.current
    assert key not in wrapped and len(wrapped) == 12 + 32 + 16
    assert ring.unwrap(key_id, subject, wrapped) == key
    # a second process reading the same file unwraps it too
    assert MasterKeyring.open(tmp_path / "master.key").unwrap(key_id, subject, wrapped) == key
    # a random nonce each time
    assert ring.wrap(subject, key)[1] != wrapped


def test_the_subject_id_is_bound(tmp_path: Path) -> None:
    ring = MasterKeyring.open(tmp_path / "master.key")
    subject = uuid.uuid4()
    key_id, wrapped = ring.wrap(subject, _key())
    with pytest.raises(MasterKeyError):
        ring.unwrap(key_id, uuid.uuid4(), wrapped)
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(MasterKeyError):
        ring.unwrap(key_id, subject, tampered)


def test_file_is_created_0600_and_has_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "master.key"
    ring = MasterKeyring.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["current"] == ring.current and set(data["keys"]) == {ring.current}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKeyring.open(path)
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        MasterKeyring.open(path)
    os.chmod(path, 0o600)
    MasterKeyring.open(path)


def test_a_malformed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b'{"current": "a", "keys": {}}')
    os.close(fd)
    with pytest.raises(MasterKeyError, match="current key"):
        MasterKeyring.open(path)


def test_rotation_keeps_old_wrapped_keys_readable(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ring = MasterKeyring.open(path)
    subject, key = uuid.uuid4(), _key()
    old_id, old_wrapped = ring.wrap(subject, key)
    new_id = ring.rotate()
    assert new_id != old_id and ring.current == new_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["current"] == new_id
    assert ring.unwrap(old_id, subject, old_wrapped) == key
    wrapped_id, new_wrapped = ring.wrap(subject, key)
    assert wrapped_id == new_id
    assert ring.unwrap(new_id, subject, new_wrapped) == key

    # another process that loaded the file before the rotation picks the new key up
    other = MasterKeyring.open(path)
    ring.rotate()
    assert other.unwrap(ring.current, subject, ring.wrap(subject, key)[1]) == key
    other.refresh()
    assert other.current == ring.current


def test_retire_drops_old_keys_never_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ring = MasterKeyring.open(path)
    subject, key = uuid.uuid4(), _key()
    old_id, old_wrapped = ring.wrap(subject, key)
    new_id = ring.rotate()
    with pytest.raises(MasterKeyError, match="current"):
        ring.retire({new_id})
    assert ring.retire({old_id}) == [old_id]
    assert set(json.loads(path.read_text())["keys"]) == {new_id}
    assert ring.key_ids == {new_id}
    with pytest.raises(MasterKeyMissing):
        ring.unwrap(old_id, subject, old_wrapped)
    with pytest.raises(MasterKeyMissing):
        MasterKeyring.open(path).unwrap(old_id, subject, old_wrapped)
    assert ring.retire({old_id}) == []  # idempotent


def _open_and_report(path: str, out: multiprocessing.Queue[str]) -> None:
    out.put(MasterKeyring.open(Path(path)).current)


def test_processes_starting_together_share_one_keyring(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_open_and_report, args=(str(path), out)) for _ in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    currents = {out.get(timeout=5) for _ in procs}
    assert len(currents) == 1
    assert currents == {MasterKeyring.open(path).current}
