"""The fast canonical JSON used for record hashes is byte-for-byte RFC 8785 (rfc8785 package)."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.records import canonical_json

keys = st.text(alphabet=st.characters(max_codepoint=127), max_size=12)
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
           | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=5), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_matches_rfc8785(value: dict) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_control_characters_and_separators() -> None:
    value = {"é": "x", "s": "\u2028\u0000\u001f\"\\/\t\n😀", "n": -(2**53) + 1, "f": 1.5}
    assert canonical_json(value) == rfc8785.dumps(value)


def test_integers_outside_the_json_safe_range_are_refused() -> None:
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_json({"big": 2**60})
