"""Which buttons a page shows: `ledger.access.decide` asked about each row.

The rules need to know whose case a record is and which company it belongs to, as
`api.routes.reads.record_of` works them out; here the links of every actor on a page are read
in one query. Only `ets` and `company` principals depend on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ledger import access
from ledger.access import Action, Principal
from ledger.container import Container

PEOPLE = ("contributor_id", "beneficiary_id")


class Rights:
    def __init__(self, c: Container, p: Principal, t: str,
                 rows: Iterable[Mapping[str, Any]] = ()) -> None:
        self.p, self.t = p, t
        self.acting = p.role in access.ACTING_ROLES
        people = {r[f] for r in rows for f in PEOPLE if r.get(f)} if self.acting else set()
        self.links = c.reads.actor_links(people) if people else {}

    def item(self, kind: str, row: Mapping[str, Any]) -> access.Item:
        if not self.acting:
            return access.Item(kind)
        people = {row[f] for f in PEOPLE if row.get(f)}
        cases = people | {self.links[x]["case_owner_id"] for x in people if x in self.links}
        contributor: uuid.UUID | None = row.get("contributor_id")
        employer = self.links.get(contributor, {}).get("employer_id") if contributor else None
        return access.item(kind, cases=tuple(cases),
                           companies=(contributor, row.get("employer_id"), employer))

    def beneficiary(self, row: Mapping[str, Any]) -> access.Item:
        """What feedback on a delivery is judged by: whose case its beneficiary is."""
        if not self.acting:
            return access.Item("request")
        person = row["beneficiary_id"]
        return access.item("request", cases=(person, self.links.get(person, {}).get("case_owner_id")))

    def pair(self, offer: Mapping[str, Any], need: Mapping[str, Any]) -> access.Item:
        """A match of this offer and this need, as the write service will judge it."""
        given, asked = self.item("contribution", offer), self.item("request", need)
        return access.Item("match", given.cases | asked.cases, given.companies)

    def may(self, action: Action, record: access.Item | None = None) -> bool:
        return access.decide(self.p, action, self.t, record) is access.ALLOW
