"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis),
signed as a municipal operator: no input, valid or not, gets a server error, and every answer
has a status code, content type and body that the document declares."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.auth import TerritoryAuth
from tests.support.stack import Roles, territory_code

EXAMPLES = 20


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_no_generated_request_gets_a_server_error(roles: Roles, http: httpx.Client,
                                                  auth: TerritoryAuth) -> None:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Legnano"}).status_code == 201
    headers = {"Authorization": f"Bearer {auth.token_for(f'/v1/territories/{code}')}"}
    schema = schemathesis.openapi.from_url(roles.base_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        in_territory = "{t}" in operation.path
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters={"t": code} if in_territory else None,
                query={"min_position": 0} if operation.method.upper() == "GET" else None)

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=roles.base_url, timeout=15, headers=headers)
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as failure:  # noqa: BLE001 - every failure is collected
                    failures.append(f"{case.method} {case.formatted_path} {case.body!r} -> "
                                    f"{response.status_code} {response.text[:200]}: "
                                    f"{str(failure)[:300]}")
                if response.status_code >= 400:
                    content_type = response.headers.get("content-type") or [""]
                    assert content_type[0].startswith("application/problem+json"), (
                        case.formatted_path, response.text)

            try:
                check()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (e.g. GET /healthz).
                assert mode is GenerationMode.NEGATIVE, operation.path
    assert operations >= 20
    assert failures == []
