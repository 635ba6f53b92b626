"""The ids `ledger import` derives from refs are uuid.uuid5's, whichever way they are made."""

from __future__ import annotations

import dataclasses
import pickle
import re
import uuid

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from ledger.importer import (
    COMMANDS,
    IMPORT_NAMESPACE,
    BadLine,
    _numbered,
    build,
    parse,
    ref_id,
    scan,
    uuid5,
)
from ledger.importplan import REFERENCES


@given(st.text())
def test_the_derived_id_is_the_standard_library_uuid5(name: str) -> None:
    try:
        expected = uuid.uuid5(IMPORT_NAMESPACE, name)
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it, either way
        with pytest.raises(UnicodeEncodeError):
            uuid5(name)
        return
    made = uuid5(name)
    assert made == expected and made.int == expected.int and hash(made) == hash(expected)
    assert str(made) == str(expected) and repr(made) == repr(expected)
    assert (made.version, made.variant, made.is_safe) == (5, uuid.RFC_4122, uuid.SafeUUID.unknown)
    assert pickle.loads(pickle.dumps(made)) == expected  # noqa: S301 - its own bytes


@given(st.text(max_size=12), st.text(max_size=40) | st.uuids().map(str))
def test_a_ref_names_a_uuid_as_it_is_else_the_id_derived_from_territory_and_ref(
        territory: str, ref: str) -> None:
    try:
        expected = uuid.UUID(ref)
    except ValueError:
        try:
            expected = uuid.uuid5(IMPORT_NAMESPACE, f"{territory}:{ref}")
        except UnicodeEncodeError:
            with pytest.raises(UnicodeEncodeError):
                ref_id(territory, ref)
            return
    assert ref_id(territory, ref) == expected


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_parsed_command_is_the_one_its_init_makes(name: str) -> None:
    """parse builds commands without their __init__: the same value, attributes in order."""
    kind = COMMANDS[name]
    for present in (set(), {f.name for f in dataclasses.fields(kind)}):
        fact: dict[str, object] = {"command": name, "territory": "018182"}
        for f in dataclasses.fields(kind):
            if f.name != "territory" and (f.default is dataclasses.MISSING or f.name in present):
                fact[f.name] = 7 if f.name != "required_for" else ["ets"]
        command, _ = parse(3, orjson.dumps(fact))
        values = {f.name: getattr(command, f.name) for f in dataclasses.fields(kind)}
        expected = kind(**values)
        assert type(command) is kind and command == expected and hash(command) == hash(expected)
        assert list(vars(command).items()) == list(vars(expected).items())
    if any(f.default is dataclasses.MISSING for f in dataclasses.fields(kind)[1:]):
        with pytest.raises(BadLine, match=r"line 4: .*__init__\(\) missing"):
            parse(4, orjson.dumps({"command": name, "territory": "018182"}))


_ints = st.integers(-(2 ** 63), 2 ** 63 - 1)
_values = st.none() | st.booleans() | _ints | st.text(max_size=8) | st.lists(
    st.text(max_size=8) | _ints, max_size=3) | st.dictionaries(st.text(max_size=4), _ints,
                                                               max_size=2)


@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_a_line_the_scan_takes_is_always_made_into_its_command(name: str,
                                                               data: st.DataObject) -> None:
    """Every BadLine of a line is raised by `scan`, before any part runs: `build`, run in the
    part, makes the command of whatever the scan took, the one `kind(**fields)` makes with
    the refs read as ids."""
    kind = COMMANDS[name]
    names = [f.name for f in dataclasses.fields(kind) if f.name != "territory"]
    chosen = set(data.draw(st.lists(st.sampled_from(names), unique=True)))
    if data.draw(st.booleans()):  # every field without a default: mostly a command
        chosen |= {f.name for f in dataclasses.fields(kind)[1:]
                   if f.default is dataclasses.MISSING}
    fact: dict[str, object] = {"command": name, "territory": "018182"}
    fact |= {f: data.draw(_values) for f in sorted(chosen)}
    if data.draw(st.booleans()):
        fact["ref"] = data.draw(st.text(max_size=6) | _ints)
    try:
        line = scan(9, orjson.dumps(fact))
    except BadLine as err:
        event("refused by the scan")
        assert err.number == 9
        with pytest.raises(BadLine, match=f"^line 9: {re.escape(str(err)[8:])}$"):
            parse(9, orjson.dumps(fact))
        return
    event("made")
    command, new_id = build(line)
    fields = {k: v for k, v in fact.items() if k not in ("command", "ref")}
    assert line.fact == fields  # kept as read: the line can be built again, alike
    for key in REFERENCES[kind].intersection(fields):
        value = fields[key]
        if isinstance(value, str):
            fields[key] = ref_id("018182", value)
        elif isinstance(value, list):
            fields[key] = tuple(ref_id("018182", str(v)) for v in value)
    if isinstance(fields.get("required_for"), list):
        fields["required_for"] = tuple(fields["required_for"])  # type: ignore[arg-type]
    assert command == kind(**fields)
    assert list(vars(command)) == [f.name for f in dataclasses.fields(kind)]
    if "ref" in fact:
        assert new_id == ref_id("018182", str(fact["ref"]))
    assert build(line) == (command, new_id)
    assert line.fact == {k: v for k, v in fact.items() if k not in ("command", "ref")}


@pytest.mark.parametrize("name", [["pledge"], {"a": 1}, 7, None])
def test_a_command_that_is_not_a_name_is_a_bad_line(name: object) -> None:
    with pytest.raises(BadLine, match=r"^line 5: unknown command"):
        scan(5, orjson.dumps({"command": name, "territory": "018182"}))


def test_blank_lines_are_skipped_and_the_others_keep_their_numbers() -> None:
    lines = [b"{}\n", b"\n", b"  \t\r\n", b"{\"a\": 1}\n", b"\x0c\n", b"[]"]
    assert list(_numbered(lines)) == [(1, b"{}\n"), (4, b"{\"a\": 1}\n"), (6, b"[]")]
