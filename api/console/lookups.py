"""Names and labels a page shows beside ids: actors (people's names only where the principal
may read them, and then logged like every personal read), themes, programmes, operators."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from api.console.web import Console
from api.routes.reads import show
from ledger.access import Role
from ledger.domain import BUILT_IN_THEMES


def actors(c: Console, t: str, ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The actors with these ids as the principal may see them, by id (as text)."""
    wanted = sorted({uuid.UUID(str(i)) for i in ids if i})
    if not wanted:
        return {}
    rows = c.container.reads.listing("actors", t, {"id": wanted}, 0, len(wanted))
    return {a["id"]: a for a in show(c.container, c.principal, c.request, "actors", t, rows)}


def themes(c: Console, t: str) -> dict[str, str]:
    found = {code: theme.label for code, theme in BUILT_IN_THEMES.items()}
    found |= {r["code"]: r["label"] for r in c.container.reads.themes(t)}
    return found


def programmes(c: Console, t: str) -> dict[str, str]:
    return {r["code"]: r["name"] for r in c.container.reads.programmes(t)}


def operators(c: Console, ids: Iterable[str | None]) -> dict[str, str]:
    """Who an operator id is: the name of its API key for the roles that manage keys (as
    `GET /v1/keys` shows them); for everyone else, and for OIDC identities, the id itself."""
    names: dict[str, str] = {i: i for i in ids if i}
    if c.principal.role not in (Role.ADMIN, Role.MUNICIPALITY):
        return names
    for ident in names:
        try:
            key = c.container.api_keys.get(uuid.UUID(ident))
        except ValueError:
            key = None
        names[ident] = key.name if key else ident
    return names
