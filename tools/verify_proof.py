#!/usr/bin/env python3
"""Check the ledger's proofs offline, with Python 3.11+ and `cryptography` only.

  verify_proof.py record RECORD.tlog-proof --key VKEY [--record RECORD.json]
  verify_proof.py consistency OLD.checkpoint NEW.checkpoint --key VKEY --proof PROOF.json

VKEY: GET .../log/key (or a file holding it). RECORD.tlog-proof: GET .../log/proof/{seq}.
PROOF.json: GET .../log/proof/consistency?from=M&to=N. Prints OK and exits 0, or FAIL: why, 1.
"""

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def check(ok: bool, reason: str) -> None:
    if not ok:
        raise ValueError(reason)

def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()

def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)

def jcs(value: object) -> bytes:
    """RFC 8785 bytes of what records hold (ASCII keys, strings, integers: `load` refuses floats)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def load(data: str | bytes) -> dict[str, Any]:
    return dict(json.loads(data, parse_float=lambda f: check(False, "a record holds no floats")))

def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """C2SP signed-note: Ed25519 over the text, by the key `name+hex(id)+base64(0x01||key)`."""
    name, hex_id, key = vkey.strip().split("+", 2)
    raw, key_id = b64(key), bytes.fromhex(hex_id)
    check(raw[:1] == b"\x01" and len(raw) == 33 and sha(name.encode() + b"\n" + raw)[:4] == key_id,
          "malformed verifier key")
    check(not any(c < " " and c != "\n" for c in note), "control characters in the note")
    text, _, sigs = note.rpartition("\n\n")
    verified = False
    for signer, _, sig in (line.removeprefix("\u2014 ").partition(" ") for line in sigs.strip("\n").split("\n")):
        if signer == name and b64(sig)[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(raw[1:]).verify(b64(sig)[4:], (text + "\n").encode())
            except Exception:  # noqa: BLE001 - cryptography's InvalidSignature
                raise ValueError("forged checkpoint: the signature does not verify") from None
            verified = True
    check(verified, f"the checkpoint is not signed by {name}")
    lines = text.split("\n")
    check(len(lines) >= 3 and lines[0] == name and lines[1].isdigit(), "malformed checkpoint")
    return lines[0], int(lines[1]), b64(lines[2])

def chain(fn: int, sn: int, seed: bytes, path: list[bytes], both: bool) -> tuple[bytes, bytes]:
    """The loop of RFC 9162 2.1.3.2 (inclusion: only sr) and 2.1.4.2 (consistency: fr and sr)."""
    check(all(len(h) == 32 for h in [seed, *path]), "a hash is not 32 bytes")
    fr = sr = seed
    for c in path:
        check(sn > 0, "the proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = (sha(b"\x01" + c + fr) if both else fr), sha(b"\x01" + c + sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    check(sn == 0, "the proof is too short")
    return fr, sr

def inclusion_root(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    check(0 <= index < size, f"leaf index {index} is beyond the tree of size {size}")
    return chain(index, size - 1, leaf, proof, False)[1]

def verify_consistency(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> None:
    check(0 < m <= n and (m < n or (not proof and old == new)), f"no consistency from size {m} to {n}")
    if m < n:
        check(bool(proof) and len(old) == len(new) == 32, "malformed proof")
        path = ([old] if m & (m - 1) == 0 else []) + proof
        fn, sn = m - 1, n - 1
        while fn & 1:
            fn, sn = fn >> 1, sn >> 1
        check(chain(fn, sn, path[0], path[1:], True) == (old, new), "the newer tree does not extend the older")

def verify_record(proof_text: str, vkey: str, record_json: str | None = None) -> dict[str, object]:
    head, _, note = proof_text.partition("\n\n")
    lines = head.split("\n")
    check(lines[0] == "c2sp.org/tlog-proof@v1" and len(lines) > 1, "not a c2sp.org/tlog-proof@v1 file")
    extra = b64(lines.pop(1)[6:]) if lines[1].startswith("extra ") else None
    check(lines[1].startswith("index ") and lines[1][6:].isdigit(), "malformed index line")
    index, hashes = int(lines[1][6:]), [b64(h) for h in lines[2:]]
    origin, size, root = open_checkpoint(note, vkey)
    data = jcs(load(record_json)) if record_json is not None else extra or b""
    check(extra in (None, data), "the record is not the proof's record")
    record = load(data)
    check(record.get("seq") == index + 1, f"record seq {record.get('seq')} is not at index {index}")
    check(origin.endswith(str(record.get("source"))), f"a record of {record.get('source')}, not of {origin}")
    body = jcs({k: v for k, v in record.items() if k != "hash"})
    check(hashlib.sha256(body).hexdigest() == record.get("hash"), "the record's hash does not match it")
    check(inclusion_root(index, size, sha(b"\x00" + data), hashes) == root, "the record is not in the signed tree")
    return {"origin": origin, "tree_size": size, "seq": record["seq"], "type": record.get("type")}

def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["record", "consistency"])
    ap.add_argument("files", nargs="+", type=Path)
    for option in ("--key", "--record", "--proof"):
        ap.add_argument(option, required=option == "--key")
    a = ap.parse_args(argv)
    vkey = Path(a.key).read_text() if Path(a.key).is_file() else a.key
    try:
        if a.command == "record":
            found = verify_record(a.files[0].read_text(), vkey, Path(a.record).read_text() if a.record else None)
        else:
            check(len(a.files) == 2 and a.proof is not None, "two checkpoints and --proof are needed")
            (origin, m, r1), (_, n, r2) = (open_checkpoint(f.read_text(), vkey) for f in a.files)
            proof = load(Path(a.proof).read_text())
            check((proof["from"], proof["to"]) == (m, n), "the proof is not between these checkpoints")
            verify_consistency(m, n, r1, r2, [b64(h) for h in proof["hashes"]])
            found = {"origin": origin, "from": m, "to": n}
    except (ValueError, KeyError, IndexError, TypeError) as err:
        print(f"FAIL: {err}")
        return 1
    print("OK " + json.dumps(found))
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
