"""The master keyring: AES-256-GCM keys, kept in a file outside PostgreSQL, that wrap every
data subject's key (envelope encryption), so a database dump or backup alone opens nothing.

The file (default `<LEDGER_DATA_DIR>/master.key`, or `LEDGER_MASTER_KEY_FILE`) is JSON::

    {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>", ...}}

- It is created on first use with mode 0600. A keyring file whose mode lets the group or
  others read or write it is **refused** (`MasterKeyError`, "chmod 600 <file>"): the key must
  not be readable by anyone but the ledger's own user.
- Every change (creation, `rotate`, `retire`) happens under an exclusive `flock` on
  `<file>.lock` and writes a temporary file in the same directory (0600, fsynced) that
  `os.replace` puts in place, then fsyncs the directory: a reader sees the old file or the new
  one, never half of one, and processes starting together create a single keyring.
- A wrapped key is `nonce (12 bytes) || ciphertext+tag` under the current master key, with the
  subject id's 16 bytes as associated data, so a wrapped key cannot be moved to another person.
- `rotate()` adds a new current key and keeps the old ones; `retire(ids)` drops old keys once
  no wrapped key needs them (the caller, `KeyStore.rotate_master`, checks that).

Lose this file and every person's data is lost with it: back it up, separately from the
database backups.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class MasterKeyError(Exception):
    """The keyring file is unusable (unsafe mode, malformed) or cannot unwrap a key."""


class MasterKeyMissing(MasterKeyError):
    """A key was wrapped by a master key this keyring does not hold."""


def _new_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"


class MasterKeyring:
    """Master keys from one file; see the module docstring. Thread-safe."""

    def __init__(self, path: Path, current: str, keys: dict[str, bytes], raw: bytes) -> None:
        self.path = path
        self._current = current
        self._keys = dict(keys)
        self._raw = raw
        self._aead: dict[str, AESGCM] = {}
        self._mutex = threading.Lock()

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path) -> MasterKeyring:
        """Load the keyring file, creating it (with one fresh key) if it does not exist."""
        path = Path(path).absolute()
        raw = cls._read(path)
        if raw is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with cls._locked(path):
                raw = cls._read(path)  # another process may have created it meanwhile
                if raw is None:
                    key_id = _new_id()
                    raw = cls._write(path, key_id, {key_id: AESGCM.generate_key(bit_length=256)})
        current, keys = cls._parse(path, raw)
        return cls(path, current, keys, raw)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise MasterKeyError(f"master key file {path} is not a regular file")
            if mode & 0o077:
                raise MasterKeyError(
                    f"master key file {path} has mode {stat.S_IMODE(mode):04o}: it must not be "
                    f"accessible to group or others; run `chmod 600 {path}`")
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                return handle.read()
        finally:
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _parse(path: Path, raw: bytes) -> tuple[str, dict[str, bytes]]:
        try:
            data = json.loads(raw)
            current = data["current"]
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise MasterKeyError(f"master key file {path} is malformed: {err}") from err
        if not isinstance(current, str) or current not in keys:
            raise MasterKeyError(f"master key file {path}: the current key is missing")
        if any(len(k) != KEY_BYTES for k in keys.values()):
            raise MasterKeyError(f"master key file {path}: every key must be {KEY_BYTES} bytes")
        return current, keys

    @staticmethod
    @contextlib.contextmanager
    def _locked(path: Path) -> Iterator[None]:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _write(path: Path, current: str, keys: dict[str, bytes]) -> bytes:
        """Write atomically: a 0600 temp file, fsynced, renamed over the file; the directory
        fsynced. Call under `_locked`."""
        raw = json.dumps({"current": current,
                          "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}},
                         indent=2).encode() + b"\n"
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return raw

    # -- state --------------------------------------------------------------------------------
    @property
    def current(self) -> str:
        return self._current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def refresh(self) -> None:
        """Re-read the file if another process changed it. Keys dropped from the file stay known
        to this process (a row read just before a concurrent rotation stays readable); only
        `retire` called here forgets them."""
        raw = self._read(self.path)
        if raw is None:
            raise MasterKeyError(f"master key file {self.path} has disappeared")
        with self._mutex:
            if raw == self._raw:
                return
            current, keys = self._parse(self.path, raw)
            self._keys.update(keys)
            self._current = current
            self._raw = raw

    def _aead_for(self, key_id: str) -> AESGCM:
        with self._mutex:
            aead = self._aead.get(key_id)
            if aead is None:
                key = self._keys.get(key_id)
                if key is None:
                    raise MasterKeyMissing(
                        f"master key {key_id!r} is not in {self.path} (wrong LEDGER_MASTER_KEY_FILE "
                        "or LEDGER_DATA_DIR, or a lost master key file?)")
                aead = self._aead[key_id] = AESGCM(key)
            return aead

    # -- wrapping -----------------------------------------------------------------------------
    def wrap(self, subject_id: uuid.UUID, key: bytes) -> tuple[str, bytes]:
        """Encrypt a subject's key under the current master key: (master key id, nonce||ct)."""
        key_id = self._current
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self._aead_for(key_id).encrypt(nonce, key, subject_id.bytes)

    def unwrap(self, key_id: str, subject_id: uuid.UUID, wrapped: bytes) -> bytes:
        if key_id not in self._keys:
            self.refresh()  # rotated by another process since we loaded the file
        aead = self._aead_for(key_id)
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject_id.bytes)
        except InvalidTag as err:
            raise MasterKeyError(f"the key of subject {subject_id} does not unwrap with master "
                                 f"key {key_id!r}") from err

    # -- changes ------------------------------------------------------------------------------
    def rotate(self) -> str:
        """Add a new current master key (old ones kept); return its id."""
        with self._locked(self.path):
            raw = self._read(self.path)
            if raw is None:
                raise MasterKeyError(f"master key file {self.path} has disappeared")
            _, keys = self._parse(self.path, raw)
            key_id = _new_id()
            while key_id in keys:
                key_id = _new_id()
            keys[key_id] = AESGCM.generate_key(bit_length=256)
            raw = self._write(self.path, key_id, keys)
        with self._mutex:
            self._keys.update(keys)
            self._current = key_id
            self._raw = raw
        return key_id

    def retire(self, unused_ids: Iterable[str]) -> list[str]:
        """Drop old master keys that no wrapped key uses any more (never the current one).
        Return the ids dropped from the file."""
        unused = set(unused_ids)
        with self._locked(self.path):
            raw = self._read(self.path)
            if raw is None:
                raise MasterKeyError(f"master key file {self.path} has disappeared")
            current, keys = self._parse(self.path, raw)
            if current in unused:
                raise MasterKeyError(f"refusing to retire the current master key {current!r}")
            dropped = sorted(unused & keys.keys())
            if dropped:
                for key_id in dropped:
                    del keys[key_id]
                raw = self._write(self.path, current, keys)
        with self._mutex:
            for key_id in unused:
                self._keys.pop(key_id, None)
                self._aead.pop(key_id, None)
            self._keys.update(keys)
            self._current = current
            self._raw = raw
        return dropped
