"""seal writes what it always wrote: the same JSON, a fresh nonce per value, readable by unseal."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from ledger import privacy
from ledger.privacy import PREFIX, SubjectErased, seal, unseal

KEY = bytes(range(32))
SUBJECT = uuid.UUID("12345678-1234-5678-1234-567812345678")

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=True, allow_infinity=True) | st.uuids())
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(st.text() | st.integers() | st.booleans(), inner,
                                     max_size=4)),
    max_leaves=20)


def _before(value: Any) -> bytes:
    """The plaintext seal wrote before orjson: json.dumps, compact, not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _opened(sealed: str, key: bytes = KEY) -> bytes:
    raw = base64.urlsafe_b64decode(sealed[len(PREFIX):])
    return AESGCM(key).decrypt(raw[:12], raw[12:], SUBJECT.bytes)


@given(values)
def test_the_sealed_plaintext_is_the_bytes_json_dumps_wrote(value: Any) -> None:
    try:
        expected: bytes | Exception = _before(value)
    except (TypeError, ValueError) as err:  # not JSON (a UUID, a lone surrogate): refused
        expected = err
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)):
            seal(KEY, SUBJECT, value)
        return
    assert privacy._plaintext(value) == expected
    assert _opened(seal(KEY, SUBJECT, value)) == expected


@given(st.text())
def test_any_text_is_sealed_as_json_dumps_wrote_it(text: str) -> None:
    try:
        expected = _before(text)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            seal(KEY, SUBJECT, text)
        return
    assert _opened(seal(KEY, SUBJECT, text)) == expected
    assert unseal(KEY, SUBJECT, seal(KEY, SUBJECT, text)) == text


@pytest.mark.parametrize("value", [
    "\x7f\u2028\u2029\x00\x1f\"\\/é€😀", 1e16, 1.5, -0.0, float("nan"), float("inf"), 2 ** 63,
    2 ** 64, -(2 ** 63) - 1, {1: "a"}, {"a": {"b": [1, (2, None), True]}}, [[[[]]]]])
def test_edge_values_are_sealed_as_json_dumps_wrote_them(value: Any) -> None:
    assert _opened(seal(KEY, SUBJECT, value)) == _before(value)


def test_what_was_sealed_before_is_read() -> None:
    nonce = os.urandom(12)
    value = {"email": "p1@example.it", "phone": "+39 0383 000001", "n": 1.25}
    old = PREFIX + base64.urlsafe_b64encode(
        nonce + AESGCM(KEY).encrypt(nonce, _before(value), SUBJECT.bytes)).decode()
    assert unseal(KEY, SUBJECT, old) == value


def test_every_value_gets_its_own_nonce_and_the_format_is_kept() -> None:
    sealed = [seal(KEY, SUBJECT, "Rosa") for _ in range(3 * privacy.NONCE_BLOCK)]
    nonces = {base64.urlsafe_b64decode(s[len(PREFIX):])[:12] for s in sealed}
    assert len(nonces) == len(sealed)
    assert all(s.startswith(PREFIX) and len(base64.urlsafe_b64decode(s[3:])) == 12 + 6 + 16
               for s in sealed)


def test_a_forked_child_never_reuses_the_parents_nonces() -> None:
    seal(KEY, SUBJECT, "x")  # a block of nonces is at hand in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, _opened_nonce(seal(KEY, SUBJECT, "y")))
        os._exit(0)
    os.close(write)
    child = os.read(read, 12)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 12
    assert child != _opened_nonce(seal(KEY, SUBJECT, "y"))


def test_threads_sealing_at_once_never_get_the_same_nonce() -> None:
    """Nonces are handed out without a lock per value: each still goes to one value, across
    many blocks and threads."""
    taken: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(taken))

    def sealing(mine: list[str]) -> None:
        start.wait()
        mine.extend(seal(KEY, SUBJECT, "v") for _ in range(privacy.NONCE_BLOCK * 3))

    threads = [threading.Thread(target=sealing, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    nonces = [_opened_nonce(s) for mine in taken for s in mine]
    assert len(nonces) == 8 * privacy.NONCE_BLOCK * 3 == len(set(nonces))
    assert all(unseal(KEY, SUBJECT, s) == "v" for mine in taken for s in mine[:5])


def _opened_nonce(sealed: str) -> bytes:
    return base64.urlsafe_b64decode(sealed[len(PREFIX):])[:12]


def test_the_cipher_of_a_key_is_kept_a_while_and_any_key_still_seals() -> None:
    keys = [os.urandom(32) for _ in range(privacy._CIPHERS_MAX + 10)]
    for key in keys:
        assert unseal(key, SUBJECT, seal(key, SUBJECT, "v")) == "v"
    assert len(privacy._CIPHERS) <= privacy._CIPHERS_MAX
    assert unseal(bytearray(KEY), SUBJECT, seal(bytearray(KEY), SUBJECT, "v")) == "v"
    with pytest.raises(SubjectErased):
        unseal(keys[0], SUBJECT, seal(keys[1], SUBJECT, "v"))
