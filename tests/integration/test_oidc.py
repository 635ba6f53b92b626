"""OIDC bearer tokens: a JWT signed by the Comune's identity provider (here: a key pair the
test makes, its JWKS served on loopback) becomes a principal whose id is the operator on
events; bad issuer, audience, signature, expiry or role claim are 401."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from api.app import create_app
from infra.stack import Services
from ledger.container import Container
from ledger.settings import Settings
from tests.support.auth import bearer
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.integration
ISSUER, AUDIENCE = "https://idp.comune.example", "generative-welfare-ledger"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key())) | {
        "kid": "comune-2026", "use": "sig", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()


def _token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "SPID-TINIT-RSSMRA80A01H501U",
               "name": "Maria Rossi", "iat": now, "exp": now + 300,
               "ledger_role": "municipality"} | claims
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "comune-2026"})


def test_oidc_tokens_become_principals(settings: Settings, services: Services, roles: Roles,
                                       container: Container, admin_token: str, jwks_url: str,
                                       signing_key: rsa.RSAPrivateKey) -> None:
    oidc = settings.model_copy(update={"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE,
                                       "oidc_jwks_url": jwks_url})
    built = Container.build(oidc, services.database_url, services.kafka_bootstrap)
    try:
        client = TestClient(create_app(built))
        code = territory_code()
        assert client.post("/v1/territories", json={"code": code, "name": "Pavia"},
                           headers=bearer(admin_token)).status_code == 201
        good = _token(signing_key, ledger_territories=[code])

        me = client.get("/v1/me", headers=bearer(good))
        assert me.status_code == 200, me.text
        assert me.json() == {"id": "oidc:SPID-TINIT-RSSMRA80A01H501U", "name": "Maria Rossi",
                             "role": "municipality", "territories": [code], "actor_id": None,
                             "auth": "oidc"}
        made = client.post(f"/v1/territories/{code}/actors", headers=bearer(good),
                           json={"kind": "ets", "display_name": "Auser Pavia"})
        assert made.status_code == 201, made.text
        audit = client.get(f"/v1/territories/{code}/audit", headers=bearer(good),
                           params={"min_position": made.json()["position"]})
        assert [i["operator_id"] for i in audit.json()["items"]][-1] == me.json()["id"]
        assert client.get(f"/v1/territories/{territory_code()}", headers=bearer(good)
                          ).status_code == 404

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused = {
            "wrong audience": _token(signing_key, aud="another-app"),
            "wrong issuer": _token(signing_key, iss="https://evil.example"),
            "expired": _token(signing_key, exp=int(time.time()) - 3600),
            "forged signature": _token(other_key),
            "unknown role": _token(signing_key, ledger_role="superuser"),
            "not a jwt": "eyJ.not.a-token",
        }
        for why, token in refused.items():
            answer = client.get("/v1/me", headers=bearer(token))
            assert answer.status_code == 401, (why, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
    finally:
        built.close()
