"""Reports and listings as CSV or XLSX (`?format=csv|xlsx`), from the same JSON body.

A body is split into tables: each top-level list of objects is a table of its own (columns in
the order of first appearance; lists inside a cell are joined by spaces), and every other
figure goes into `summary` as (figure, value) rows with dotted names (`needs.by_status.open`).
CSV carries one table (`?table=`, default the body's main one) in UTF-8 with a header row;
XLSX carries every table as a sheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from api.problems import TYPE_BASE, Problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


Table = list[dict[str, Any]]


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return value


def _flatten(prefix: str, value: Any, into: Table) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return  # a table of its own
    else:
        into.append({"figure": prefix, "value": _cell(value)})


def tables(body: Mapping[str, Any]) -> dict[str, Table]:
    found: dict[str, Table] = {}
    summary: Table = []
    for key, value in body.items():
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            found[key] = [{k: _cell(v) for k, v in row.items()} for row in value]
        elif isinstance(value, Mapping):
            _flatten(key, value, summary)
            for inner_key, inner in value.items():
                if isinstance(inner, list) and inner and all(isinstance(v, Mapping) for v in inner):
                    found[f"{key}.{inner_key}"] = [{k: _cell(v) for k, v in row.items()}
                                                   for row in inner]
        else:
            summary.append({"figure": key, "value": _cell(value)})
    return {"summary": summary, **found}


def _columns(rows: Table) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def to_csv(rows: Table) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_columns(rows) or ["figure", "value"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    """Spreadsheets cannot hold control characters: they are dropped from text cells."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def to_xlsx(all_tables: dict[str, Table]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in all_tables.items():
        sheet = book.create_sheet(name[:31])
        columns = _columns(rows) or ["figure", "value"]
        sheet.append(columns)
        for row in rows:
            sheet.append([_xlsx_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export(body: dict[str, Any], fmt: Format, main: str, name: str,
           table: str | None = None) -> dict[str, Any] | Response:
    """The body as asked: itself for JSON, else a file named `name`."""
    if fmt is Format.JSON:
        return body
    found = tables(body)
    if fmt is Format.XLSX:
        return Response(to_xlsx(found), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    chosen = table or main
    if chosen not in found:
        raise Problem(422, "Unknown table", f"tables of this report: {', '.join(found)}",
                      TYPE_BASE + "validation", errors=[{"loc": ["query", "table"],
                                                         "msg": f"one of {', '.join(found)}"}])
    return Response(to_csv(found[chosen]), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}-{chosen}.csv"'})
