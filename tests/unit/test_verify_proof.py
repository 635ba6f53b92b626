"""The standalone verifier (tools/verify_proof.py) and the signed notes it reads: the published
vectors of transparency-dev/merkle (see test_merkle.py) and of C2SP signed-note
(https://github.com/C2SP/C2SP, signed-note.md, tag signed-note/v1.0.0, section "Verifier
keys", example), then proofs made by this project's code, and tampered inputs: a changed
record, a wrong hash, a wrong size, a forged signature, an index beyond the tree."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle, notes
from ledger.records import ChainLink, build_record, record_bytes
from ledger.tlog import proof_text
from tests.unit.test_merkle import VECTORS, b64, consistency, inclusion

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_proof.py"
ORIGIN = "welfare-ledger.test/territories/018182"
# C2SP signed-note.md, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6Tf"
             "Xppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_proof", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vp = _tool()


def test_the_tool_stays_small_and_standalone() -> None:
    source = TOOL.read_text()
    assert len(source.splitlines()) <= 140
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= set(sys.stdlib_module_names) | {"cryptography"}, imports


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["path"])
def test_tool_inclusion_vectors(case: dict[str, Any]) -> None:
    def verify() -> None:
        root = vp.inclusion_root(case["leafIdx"], case["treeSize"],
                                 base64.b64decode(case["leafHash"]), b64(case["proof"]))
        vp.check(root == base64.b64decode(case["root"]), "root mismatch")
    if case["wantErr"]:
        with pytest.raises(ValueError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["path"])
def test_tool_consistency_vectors(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], base64.b64decode(case["root1"]),
            base64.b64decode(case["root2"]), b64(case["proof"]))
    if case["wantErr"]:
        with pytest.raises(ValueError):
            vp.verify_consistency(*args)
    else:
        vp.verify_consistency(*args)


def test_signed_note_spec_example() -> None:
    verifier = notes.Verifier.parse(SPEC_VKEY)
    assert notes.open_note(SPEC_NOTE, verifier) == "This is an example message.\n"
    assert notes.verifier_key(verifier.name, verifier.public) == SPEC_VKEY
    forged = SPEC_NOTE.replace("example message", "exemplary message")
    with pytest.raises(notes.NoteError):
        notes.open_note(forged, verifier)
    # The tool checks the same signature, then finds that this note is no checkpoint.
    with pytest.raises(ValueError, match="malformed checkpoint"):
        vp.open_checkpoint(SPEC_NOTE, SPEC_VKEY)
    with pytest.raises(ValueError, match="forged"):
        vp.open_checkpoint(forged, SPEC_VKEY)


def test_notes_ignore_unknown_signers_and_refuse_unsigned_ones() -> None:
    ours, theirs = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    text = notes.Checkpoint(ORIGIN, 5, b"\x07" * 32).text()
    note = notes.sign(text, ORIGIN, ours)
    cosigned = note + notes.sign(text, "witness.example", theirs).rpartition("\n\n")[2]
    verifier = notes.Verifier.parse(notes.verifier_key(ORIGIN, notes.public_bytes(ours)))
    assert notes.open_checkpoint(cosigned, verifier, ORIGIN) == notes.Checkpoint(ORIGIN, 5, b"\x07" * 32)
    other = notes.Verifier.parse(notes.verifier_key(ORIGIN, notes.public_bytes(theirs)))
    with pytest.raises(notes.NoteError):
        notes.open_checkpoint(note, other)
    with pytest.raises(notes.NoteError):
        notes.Verifier.parse(notes.verifier_key(ORIGIN, notes.public_bytes(ours))[:-3] + "AAA")


class Log:
    """A territory's log made with the project's own code, for the tool to check."""

    def __init__(self, n: int, salt: int = 0) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.vkey = notes.verifier_key(ORIGIN, notes.public_bytes(self.key))
        self.records, prev = [], None
        for i in range(1, n + 1):
            value = build_record(
                topic="ledger.domain.contribution:Contribution.Pledged",
                state={"territory": "018182", "timestamp": datetime(2026, 3, 1, tzinfo=UTC),
                       "quantity": i + salt, "description_sealed": "v1.c2VhbGVk", "operator_id": "op"},
                originator_id=uuid.UUID(int=i), version=1, position=i, prev=prev)
            prev = ChainLink(value["seq"], value["hash"])
            self.records.append(value)
        self.leaves = [merkle.leaf_hash(record_bytes(v)) for v in self.records]

    def note(self, size: int, key: Ed25519PrivateKey | None = None) -> str:
        root = merkle.root_of(self.leaves[:size])
        return notes.sign(notes.Checkpoint(ORIGIN, size, root).text(), ORIGIN, key or self.key)

    def proof(self, seq: int, size: int) -> str:
        return proof_text(record_bytes(self.records[seq - 1]), seq - 1,
                          inclusion(seq - 1, self.leaves[:size]), self.note(size))


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)


def test_record_proofs_verify_with_the_tool_alone(tmp_path: Path) -> None:
    log = Log(21)
    for seq in (1, 2, 11, 20, 21):
        found = vp.verify_record(log.proof(seq, 21), log.vkey)
        assert found == {"origin": ORIGIN, "tree_size": 21, "seq": seq,
                         "type": "it.ledger.contribution.pledged.v1"}
    (tmp_path / "p.tlog-proof").write_text(log.proof(7, 21))
    (tmp_path / "key").write_text(log.vkey)
    (tmp_path / "record.json").write_text(json.dumps(log.records[6], indent=2))
    done = run(tmp_path, "record", "p.tlog-proof", "--key", "key", "--record", "record.json")
    assert done.returncode == 0 and done.stdout.startswith("OK "), done.stdout + done.stderr


def test_tampered_record_proofs_fail(tmp_path: Path) -> None:
    log = Log(21)
    good = log.proof(7, 21)
    head, _, note = good.partition("\n\n")
    lines = head.split("\n")
    changed = dict(log.records[6], data={**log.records[6]["data"], "quantity": 700})
    rehashed = dict(changed, hash="")
    rehashed["hash"] = vp.hashlib.sha256(vp.jcs({k: v for k, v in rehashed.items() if k != "hash"})).hexdigest()
    flipped = base64.b64decode(lines[3])
    flipped = base64.b64encode(bytes([flipped[0] ^ 1]) + flipped[1:]).decode()
    wrong_size = note.replace("\n21\n", "\n22\n", 1)
    cases = {
        "changed record": "\n".join([lines[0], "extra " + base64.b64encode(record_bytes(changed)).decode(),
                                     *lines[2:]]) + "\n\n" + note,
        "changed record, hash recomputed": "\n".join(
            [lines[0], "extra " + base64.b64encode(record_bytes(rehashed)).decode(), *lines[2:]]) + "\n\n" + note,
        "wrong hash": "\n".join([*lines[:3], flipped, *lines[4:]]) + "\n\n" + note,
        "wrong size": head + "\n\n" + wrong_size,
        "forged signature": head + "\n\n" + log.note(21, Ed25519PrivateKey.generate()),
        "missing hash": "\n".join(lines[:-1]) + "\n\n" + note,
        "another record's index": "\n".join([*lines[:2], "index 7", *lines[3:]]) + "\n\n" + note,
    }
    for name, text in cases.items():
        with pytest.raises(ValueError):
            vp.verify_record(text, log.vkey)
        (tmp_path / "bad.tlog-proof").write_text(text)
        done = run(tmp_path, "record", "bad.tlog-proof", "--key", log.vkey)
        assert done.returncode == 1 and done.stdout.startswith("FAIL: "), (name, done.stdout)
    with pytest.raises(ValueError, match="beyond the tree"):  # an index beyond the tree
        vp.inclusion_root(21, 21, log.leaves[0], inclusion(20, log.leaves))
    other = json.dumps(log.records[7])
    with pytest.raises(ValueError, match="not the proof's record"):
        vp.verify_record(good, log.vkey, other)


def test_checkpoint_consistency_with_the_tool(tmp_path: Path) -> None:
    log = Log(40)
    for old, new in ((1, 40), (13, 40), (16, 40), (39, 40), (40, 40)):
        (tmp_path / "old").write_text(log.note(old))
        (tmp_path / "new").write_text(log.note(new))
        hashes = consistency(old, log.leaves[:new]) if old < new else []
        proof = {"from": old, "to": new, "hashes": [base64.b64encode(h).decode() for h in hashes]}
        (tmp_path / "proof.json").write_text(json.dumps(proof))
        done = run(tmp_path, "consistency", "old", "new", "--key", log.vkey, "--proof", "proof.json")
        assert done.returncode == 0, (old, new, done.stdout)
        if old == new:
            continue
        bad = dict(proof, hashes=[base64.b64encode(b"\x00" * 32).decode(), *proof["hashes"][1:]])
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        done = run(tmp_path, "consistency", "old", "new", "--key", log.vkey, "--proof", "bad.json")
        assert done.returncode == 1, (old, new, done.stdout)
        done = run(tmp_path, "consistency", "new", "old", "--key", log.vkey, "--proof", "proof.json")
        assert done.returncode == 1
    # A forked log: the same size signed over other records is inconsistent with the real one.
    fork = Log(40, salt=1000)
    fork.key = log.key
    (tmp_path / "old").write_text(fork.note(13))
    (tmp_path / "new").write_text(log.note(40))
    proof = {"from": 13, "to": 40, "hashes": [base64.b64encode(h).decode()
                                              for h in consistency(13, log.leaves)]}
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    done = run(tmp_path, "consistency", "old", "new", "--key", log.vkey, "--proof", "proof.json")
    assert done.returncode == 1 and "extend" in done.stdout
