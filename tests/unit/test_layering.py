"""The layering is a checked contract: the domain knows nothing of HTTP, SQL or Kafka."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_IN_DOMAIN = {"eventsourcing.domain", "ledger.domain", "__future__"}


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_domain_imports_only_stdlib_and_eventsourcing_domain() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "ledger" / "domain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = top in stdlib or any(name == a or name.startswith(a + ".")
                                          for a in ALLOWED_IN_DOMAIN)
                assert ok, f"{path.relative_to(ROOT)} imports {name}"
