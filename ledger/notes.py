"""C2SP signed notes (c2sp.org/signed-note v1.0.0, Ed25519) and tlog-checkpoint v1.0.0 bodies.

A note is its text (ending in a newline), a blank line, and signature lines
`— <key name> base64(key id || signature)`; the key id is the first four bytes of
SHA-256(key name || 0x0A || 0x01 || public key), and a verifier key reads
`<name>+<hex key id>+base64(0x01 || public key)`. A checkpoint's text is the origin, the
tree size and the base64 root hash, one a line. tests/unit/test_notes.py checks this module
against the examples of the specifications.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
DASH = "\u2014 "
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")


class NoteError(ValueError):
    """A note, checkpoint or verifier key that is malformed or not signed by the key."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifier_key(name: str, public: bytes) -> str:
    if not _NAME.fullmatch(name):
        raise NoteError(f"invalid key name {name!r}")
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(ED25519 + public).decode()}"


@dataclass(frozen=True)
class Verifier:
    name: str
    id: bytes
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        name, _, rest = vkey.strip().partition("+")
        hex_id, _, key = rest.partition("+")
        try:
            raw = base64.b64decode(key, validate=True)
            ident = bytes.fromhex(hex_id)
        except ValueError as err:
            raise NoteError(f"malformed verifier key: {err}") from None
        if not _NAME.fullmatch(name) or len(ident) != 4 or raw[:1] != ED25519 or len(raw) != 33:
            raise NoteError("malformed verifier key (want name+hex id+base64(0x01||Ed25519 key))")
        if key_id(name, raw[1:]) != ident:
            raise NoteError("the verifier key's id does not match its name and key")
        return cls(name, ident, raw[1:])


def sign(text: str, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note text ends with one newline and has no blank line")
    signature = private.sign(text.encode())
    sig = base64.b64encode(key_id(name, public_bytes(private)) + signature).decode()
    return f"{text}\n{DASH}{name} {sig}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The text of a note signed by the verifier's key (other signatures are ignored)."""
    if any(c < " " and c != "\n" for c in note):
        raise NoteError("a note has no control characters but newlines")
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("not a signed note")
    text += "\n"
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(DASH):
            raise NoteError("malformed signature line")
        name, _, sig = line[len(DASH):].partition(" ")
        try:
            raw = base64.b64decode(sig, validate=True)
        except ValueError:
            raise NoteError("malformed signature") from None
        if name != verifier.name or raw[:4] != verifier.id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public).verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not verify") from None
        verified = True
    if not verified:
        raise NoteError(f"the note is not signed by {verifier.name}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] or not all(lines[:-1]) or not _SIZE.fullmatch(lines[1]):
            raise NoteError("malformed checkpoint")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except ValueError:
            raise NoteError("malformed checkpoint root hash") from None
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root)


def open_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """A checkpoint whose signature verifies (and whose origin is the expected one)."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint of {checkpoint.origin}, expected {origin}")
    return checkpoint
