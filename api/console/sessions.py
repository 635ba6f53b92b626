"""Console sessions, kept server-side in PostgreSQL.

Signing in checks a token exactly as the API does (`api.deps.identify`: an API key, an
OIDC JWT when configured, or the development admin token) and opens a session. The browser
holds only a random 256-bit session token in an HttpOnly cookie; the table holds its SHA-256,
never the API key or the JWT. A session made with an API key names the key and is refused as
soon as the key is revoked (the principal is read from the key on every request); one made
with a JWT lives no longer than the JWT. Every session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from ledger.access import Principal, Role
from ledger.apikeys import ApiKeys
from ledger.db import Database

LIFETIME = timedelta(hours=8)
TABLE = """
CREATE TABLE IF NOT EXISTS console_sessions (
    id text PRIMARY KEY,
    principal jsonb NOT NULL,
    key_id uuid,
    csrf text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _dump(p: Principal) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "role": p.role.value, "territories": sorted(p.territories),
            "actor_id": str(p.actor_id) if p.actor_id else None, "auth": p.auth}


def _load(data: dict[str, Any]) -> Principal:
    actor = uuid.UUID(data["actor_id"]) if data.get("actor_id") else None
    return Principal(data["id"], data["name"], Role(data["role"]), frozenset(data["territories"]),
                     actor, data["auth"])


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    expires_at: datetime


class Sessions:
    def __init__(self, db: Database, api_keys: ApiKeys) -> None:
        self.db, self.api_keys = db, api_keys
        self._ready = False

    def _setup(self) -> None:
        if not self._ready:
            with self.db.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(7210)")
                conn.execute(TABLE)
            self._ready = True

    def open(self, principal: Principal, expires_at: datetime | None = None) -> str:
        """A new session for the principal; returns the token for the cookie."""
        self._setup()
        token = secrets.token_urlsafe(32)
        until = datetime.now(UTC) + LIFETIME
        if expires_at is not None:
            until = min(until, expires_at)
        key_id = uuid.UUID(principal.id) if principal.auth == "api_key" else None
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM console_sessions WHERE expires_at < now()")
            conn.execute("INSERT INTO console_sessions (id, principal, key_id, csrf, expires_at)"
                         " VALUES (%s, %s, %s, %s, %s)",
                         (_digest(token), Jsonb(_dump(principal)), key_id,
                          secrets.token_urlsafe(32), until))
        return token

    def find(self, token: str) -> Session | None:
        """The live session of a cookie token, with its principal as of now."""
        self._setup()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT principal, key_id, csrf, expires_at FROM console_sessions"
                               " WHERE id = %s AND expires_at > now()", (_digest(token),)).fetchone()
        if row is None:
            return None
        principal = _load(row["principal"])
        if row["key_id"] is not None:
            key = self.api_keys.get(row["key_id"])
            if key is None or key.revoked_at is not None:
                self.close(token)
                return None
            principal = key.principal()
        return Session(principal, row["csrf"], row["expires_at"])

    def close(self, token: str) -> None:
        self._setup()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM console_sessions WHERE id = %s", (_digest(token),))
