"""The ids `ledger import` derives from refs are uuid.uuid5's, whichever way they are made."""

from __future__ import annotations

import dataclasses
import pickle
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.importer import COMMANDS, IMPORT_NAMESPACE, BadLine, parse, ref_id, uuid5


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
