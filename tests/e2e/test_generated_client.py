"""A client generated from the live OpenAPI document (openapi-python-client) has typed models:
named response classes, and endpoint functions typed with them and with ProblemDetails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

PACKAGE = "ledger_client"
MODELS = {"ActorPublic", "ContributionPublic", "RequestPublic", "MatchPublic", "FulfilmentPublic",
          "ContributionPage", "Balances", "ProblemDetails"}
ACTOR_PATH = re.compile(r"^/v1/territories/\{[^}]+\}/actors/\{[^}]+\}$")
# Post-generation hooks would run ruff from PATH; the test needs none of that formatting.
CONFIG = "post_hooks: []\n"
# Run by the generator's own interpreter, which has the generated code's dependencies.
INSPECT = """
import importlib, inspect, json, sys, typing
models = importlib.import_module(sys.argv[1] + ".models")
endpoint = importlib.import_module(sys.argv[2])
annotation = inspect.signature(endpoint.sync_detailed).return_annotation
(parsed,) = typing.get_args(annotation)
print(json.dumps({
    "models": sorted(n for n, v in vars(models).items() if inspect.isclass(v)),
    "response": typing.get_origin(annotation).__name__,
    "parsed": sorted(a.__name__ for a in (typing.get_args(parsed) or (parsed,))),
}))
"""


def _generator() -> Path:
    """OPENAPI_PYTHON_CLIENT, else the one installed beside this Python, else on PATH."""
    configured = os.environ.get("OPENAPI_PYTHON_CLIENT")
    beside = Path(sys.executable).parent / "openapi-python-client"
    on_path = shutil.which("openapi-python-client")
    for candidate in (configured, str(beside), on_path):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("openapi-python-client is not installed: `make test` installs it with the "
                "test extra (pyproject.toml)")


def _openapi(http: httpx.Client) -> dict[str, Any]:
    """The document, fetched without credentials: it is public, like /docs."""
    answer = httpx.get(str(http.base_url.join("/openapi.json")), timeout=30)
    assert answer.status_code == 200, answer.text[:200]
    document: dict[str, Any] = answer.json()
    return document


def _generate(http: httpx.Client, tmp_path: Path) -> tuple[dict[str, Any], Path, Path]:
    document = _openapi(http)
    spec, config, output = tmp_path / "openapi.json", tmp_path / "config.yml", tmp_path / PACKAGE
    spec.write_text(json.dumps(document))
    config.write_text(CONFIG)
    generator = _generator()
    run = subprocess.run([str(generator), "generate", "--path", str(spec), "--output-path",
                          str(output), "--meta", "none", "--config", str(config)],
                         capture_output=True, text=True, timeout=300, check=False)
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (output / "models" / "__init__.py").is_file(), run.stdout
    return document, generator, output


def _endpoint_module(output: Path, method: str, path: str) -> str:
    """The generated module that calls `method path` (found by its request template)."""
    wanted = (f'"method": "{method}"', f'"url": "{path}"')
    for source in sorted((output / "api").rglob("*.py")):
        text = source.read_text()
        if all(w in text for w in wanted):
            relative = source.relative_to(output.parent).with_suffix("")
            return ".".join(relative.parts)
    raise AssertionError(f"no generated module for {method.upper()} {path}")


def test_generated_client_is_typed(http: httpx.Client, tmp_path: Path) -> None:
    document, generator, output = _generate(http, tmp_path)
    (actor_path,) = [p for p in document["paths"] if ACTOR_PATH.match(p)]
    module = _endpoint_module(output, "get", actor_path)
    inspected = subprocess.run([str(generator.parent / "python"), "-c", INSPECT, PACKAGE, module],
                               capture_output=True, text=True, timeout=120, check=False,
                               cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(tmp_path)})
    assert inspected.returncode == 0, inspected.stderr
    found = json.loads(inspected.stdout)
    print(json.dumps(found, indent=1))
    assert set(found["models"]) >= MODELS, sorted(MODELS - set(found["models"]))
    assert found["response"] == "Response"
    assert found["parsed"] == ["ActorPublic", "ProblemDetails"], found["parsed"]


def test_every_v1_answer_is_a_named_schema(http: httpx.Client) -> None:
    """No anonymous `...Response...Get` classes in a client: each /v1 success body is a $ref."""
    document = _openapi(http)
    anonymous = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and "$ref" not in schema:
                    anonymous.append(f"{method.upper()} {path} {status}")
    assert anonymous == []
