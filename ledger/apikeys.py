"""API keys: random, prefixed, shown once, stored only as a SHA-256 hash.

A token is ``lk_`` + 43 url-safe characters (256 random bits), so a hash without salt is
enough: nobody can guess one to match. Keys carry a name, a role, the territories they may
see and, for ``ets`` and ``company``, the actor they act for. Revoked keys stay listed.

A process that serves requests (the API) keeps the live keys it has looked up in memory
(`KeyCache`), so most requests need no query to name their principal. The cache is used only
while it listens to PostgreSQL's notifications of revocations: a revocation, in whatever
process it is made, notifies in its own transaction, and every listening process drops the
key when the notification arrives (the process that revoked drops it at once). When the
listening connection is lost, the cache is emptied and unused until it listens again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from ledger.access import ACTING_ROLES, Principal, Role
from ledger.db import Database
from ledger.projections.queries import Reads

PREFIX = "lk_"
TABLE = """
CREATE TABLE IF NOT EXISTS api_keys (
    id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    name text NOT NULL,
    role text NOT NULL,
    territories text[] NOT NULL,
    actor_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);
"""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    name: str
    role: Role
    territories: tuple[str, ...]
    actor_id: uuid.UUID | None
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    def principal(self) -> Principal:
        return Principal(str(self.id), self.name, self.role, frozenset(self.territories),
                         self.actor_id, "api_key")

    def public(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None
        return {"id": str(self.id), "name": self.name, "role": self.role.value,
                "territories": list(self.territories),
                "actor_id": str(self.actor_id) if self.actor_id else None,
                "created_at": iso(self.created_at), "created_by": self.created_by,
                "last_used_at": iso(self.last_used_at), "revoked_at": iso(self.revoked_at)}


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(row["id"], row["name"], Role(row["role"]), tuple(row["territories"]),
                  row["actor_id"], row["created_at"], row["created_by"], row["last_used_at"],
                  row["revoked_at"])


COLUMNS = "id, name, role, territories, actor_id, created_at, created_by, last_used_at, revoked_at"
REVOKED = "api_keys_revoked"  # the notification channel; the payload is the key's token hash
LISTENER_NAME = "ledger key revocations"  # its application_name in pg_stat_activity
NOTE_USE_EVERY = 60.0  # seconds: last_used_at is written at most once a minute per key
log = logging.getLogger(__name__)


class KeyCache:
    """Live keys by token hash, trusted only while notifications of revocations are heard.

    `generation` counts the notifications heard (and losses of the listening connection): a
    key read from PostgreSQL is kept only if no revocation arrived while it was being read,
    so a revocation racing a lookup never leaves the revoked key in the cache."""

    def __init__(self, url: str, max_keys: int = 10_000, max_age: float = 300.0) -> None:
        self.url, self.max_keys, self.max_age = url, max_keys, max_age
        self.lock = threading.Lock()
        self.keys: dict[str, tuple[ApiKey, float]] = {}
        self.noted: dict[uuid.UUID, float] = {}  # when this process last wrote last_used_at
        self.generation = 0
        self.listening = False
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._listen, name="api-key-revocations",
                                           daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()  # the thread sees it within a second
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.listening

    def get(self, digest: str) -> ApiKey | None:
        if not self.listening:
            return None
        found = self.keys.get(digest)
        if found is None:
            return None
        key, since = found
        if time.monotonic() - since > self.max_age:
            return None
        return key

    def put(self, digest: str, key: ApiKey, generation: int) -> None:
        with self.lock:
            if not self.listening or generation != self.generation:
                return
            if len(self.keys) >= self.max_keys:
                self.keys.clear()
            self.keys[digest] = (key, time.monotonic())

    def drop(self, digest: str | None) -> None:
        """A revocation: that key (or, not knowing which, every key) is looked up again."""
        with self.lock:
            self.generation += 1
            if digest is None:
                self.keys.clear()
            else:
                self.keys.pop(digest, None)

    def use_due(self, key_id: uuid.UUID) -> bool:
        """True once a minute per key: time to note its use in PostgreSQL."""
        now = time.monotonic()
        with self.lock:
            last = self.noted.get(key_id)
            if last is not None and now - last < NOTE_USE_EVERY:
                return False
            self.noted[key_id] = now
            return True

    def _lost(self) -> None:
        with self.lock:
            self.listening = False
            self.generation += 1
            self.keys.clear()

    def _listen(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=2,
                                     application_name=LISTENER_NAME) as conn:
                    conn.execute(f"LISTEN {REVOKED}")
                    with self.lock:  # what was read before listening may be stale
                        self.generation += 1
                        self.keys.clear()
                        self.listening = True
                    delay, checked = 0.2, time.monotonic()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.drop(note.payload or None)
                        if time.monotonic() - checked > 10:  # a silent loss of the server
                            conn.execute("SELECT 1")
                            checked = time.monotonic()
            except Exception:  # noqa: BLE001 - PostgreSQL away: no cache until it is back
                if not self.stopping.is_set():
                    log.info("not listening for key revocations; retrying", exc_info=True)
            finally:
                self._lost()
            self.stopping.wait(delay)
            delay = min(delay * 2, 5.0)


class ApiKeys:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache: KeyCache | None = None

    def start_cache(self) -> KeyCache:
        """Keep live keys in memory for this process (the API); see KeyCache."""
        if self.cache is None:
            self.cache = KeyCache(self.db.url)
            self.cache.start()
        return self.cache

    def stop_cache(self) -> None:
        if self.cache is not None:
            self.cache.stop()
            self.cache = None

    def cached(self, token: str) -> ApiKey | None:
        """The live key of a token if this process knows it and need not note its use now;
        None means: ask `authenticate`."""
        cache = self.cache
        if cache is None:
            return None
        key = cache.get(token_hash(token))
        if key is None or cache.use_due(key.id):
            return None
        return key

    def setup(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(7203)")
            conn.execute(TABLE)

    def create(self, name: str, role: Role, territories: list[str],
               actor_id: uuid.UUID | None, created_by: str) -> tuple[ApiKey, str]:
        """The new key and its token: the only time the token exists outside its owner."""
        token = new_token()
        with self.db.transaction() as conn:
            row = conn.execute(
                f"INSERT INTO api_keys (id, token_hash, name, role, territories, actor_id, "  # noqa: S608
                f"created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                (uuid.uuid4(), token_hash(token), name, role.value, sorted(set(territories)),
                 actor_id, created_by)).fetchone()
        assert row is not None
        return _key(row), token

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key of a token, noting when it was last used (at most once a minute)."""
        digest = token_hash(token)
        cache = self.cache
        generation = cache.generation if cache is not None else 0
        with self.db.reading() as conn:  # two statements, each atomic on its own
            row = conn.execute(f"SELECT {COLUMNS} FROM api_keys WHERE token_hash = %s "  # noqa: S608
                               "AND revoked_at IS NULL", (digest,)).fetchone()
            if row is not None:
                conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s AND "
                             "(last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
                             (row["id"],))
        if row is None:
            return None
        key = _key(row)
        if cache is not None:
            cache.use_due(key.id)  # noted just now
            cache.put(digest, key, generation)
        return key

    def get(self, key_id: uuid.UUID) -> ApiKey | None:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM api_keys WHERE id = %s",  # noqa: S608
                               (key_id,)).fetchone()
        return None if row is None else _key(row)

    def list(self) -> list[ApiKey]:
        with self.db.transaction() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"  # noqa: S608
                                ).fetchall()
        return [_key(r) for r in rows]

    def revoke(self, key_id: uuid.UUID) -> ApiKey | None:
        """Revoke a key; every process that keeps it in memory is told, in the same
        transaction (a notification is delivered only if the revocation commits)."""
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s "
                               "AND revoked_at IS NULL RETURNING token_hash", (key_id,)).fetchone()
            if row is not None:
                conn.execute("SELECT pg_notify(%s, %s)", (REVOKED, row["token_hash"]))
        if row is not None and self.cache is not None:
            self.cache.drop(row["token_hash"])
        return self.get(key_id)


class InvalidScope(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_scope(reads: Reads, role: Role, territories: list[str],
                actor_id: uuid.UUID | None) -> None:
    """A key's territories exist; an ets or company key names an actor of that kind there."""
    if role is not Role.ADMIN and not territories:
        raise InvalidScope("territories", "a non-admin key needs at least one territory")
    unknown = [t for t in territories if reads.territory(t) is None]
    if unknown:
        raise InvalidScope("territories", f"unknown territories: {', '.join(unknown)}")
    if role in ACTING_ROLES:
        kind = "ets" if role is Role.ETS else "company"
        actor = None
        if actor_id is not None and len(territories) == 1:
            actor = reads.item("actors", territories[0], actor_id)
        if actor is None or actor["kind"] != kind:
            raise InvalidScope("actor_id", f"a {role.value} key needs exactly one territory and "
                                           f"the id of a registered {kind} actor there")
    elif actor_id is not None:
        raise InvalidScope("actor_id", "only ets and company keys act for an actor")


def ensure_admin_key(keys: ApiKeys, path: Path) -> str | None:
    """The admin key of a data directory: reused while it works, else made anew.

    Returns the token only when it was just created (to be printed once), else None.
    """
    if path.exists():
        token = path.read_text().strip()
        if token and keys.authenticate(token) is not None:
            return None
    _, token = keys.create("admin (first start)", Role.ADMIN, [], None, "ledger up")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def read_admin_key(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None
