"""OIDC bearer tokens: JWTs from the Comune's identity provider (how SPID/CIE logins arrive).

The issuer, audience and JWKS address come from the settings; the JWKS is fetched and cached
by PyJWT. Claims map to a principal: the role claim must name one of the ledger's roles, the
territories claim lists ISTAT codes, the actor claim (for ``ets``/``company``) an actor id.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt

from ledger.access import Principal, Role

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class InvalidToken(Exception):
    """The bearer token is not a valid identity for this ledger."""


class OidcVerifier:
    def __init__(self, issuer: str, audience: str, jwks_url: str, *, role_claim: str = "ledger_role",
                 territories_claim: str = "ledger_territories",
                 actor_claim: str = "ledger_actor_id", leeway: float = 30.0) -> None:
        self.issuer, self.audience = issuer, audience
        self.role_claim, self.territories_claim, self.actor_claim = (
            role_claim, territories_claim, actor_claim)
        self.leeway = leeway
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def principal(self, token: str) -> Principal:
        try:
            signing_key = self.jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, signing_key.key, algorithms=ALGORITHMS, audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.PyJWKClientConnectionError as err:
            raise InvalidToken(f"the identity provider's keys are unreachable: {err}") from err
        except jwt.PyJWTError as err:
            raise InvalidToken(str(err)) from err
        return principal_from_claims(claims, self.role_claim, self.territories_claim,
                                     self.actor_claim)


def principal_from_claims(claims: dict[str, Any], role_claim: str, territories_claim: str,
                          actor_claim: str) -> Principal:
    try:
        role = Role(str(claims.get(role_claim)))
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidToken(f"claim {role_claim!r} must be one of: {allowed}") from None
    territories = claims.get(territories_claim) or []
    if isinstance(territories, str):
        territories = territories.split()
    if not isinstance(territories, list) or not all(isinstance(t, str) for t in territories):
        raise InvalidToken(f"claim {territories_claim!r} must list territory codes")
    actor: uuid.UUID | None = None
    if claims.get(actor_claim):
        try:
            actor = uuid.UUID(str(claims[actor_claim]))
        except ValueError:
            raise InvalidToken(f"claim {actor_claim!r} must be an actor id") from None
    name = str(claims.get("name") or claims.get("preferred_username") or claims["sub"])
    return Principal(f"oidc:{claims['sub']}", name, role, frozenset(territories), actor, "oidc")
