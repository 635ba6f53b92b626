"""RFC 9162 trees, proofs and their verification, against the published test vectors of
transparency-dev/merkle (https://github.com/transparency-dev/merkle, testdata/inclusion,
testdata/consistency and testonly/constants.go at commit 417fb0c3, embedded verbatim in
tests/unit/vectors/transparency_dev_merkle.json with each file's path), and against a
reference tree built in memory for every size up to 300 and tiles of 256."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ledger import merkle
from ledger.merkle import ProofError
from ledger.tiles import WIDTH, TreeAppender, partial_tiles, pyramid, split, tile_of

VECTORS = json.loads((Path(__file__).parent / "vectors" / "transparency_dev_merkle.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["root_hashes_hex"]]


def b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 2.1.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def nodes_of(leaves: list[bytes]) -> dict[merkle.Node, bytes]:
    nodes, level, row = {}, 0, list(leaves)
    while row:
        nodes.update({(level, i): h for i, h in enumerate(row)})
        row = [merkle.node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
    return nodes


def inclusion(index: int, leaves: list[bytes]) -> list[bytes]:
    nodes = nodes_of(leaves)
    return [merkle.range_hash(s, e, nodes) for s, e in merkle.inclusion_ranges(index, len(leaves))]


def consistency(old: int, leaves: list[bytes]) -> list[bytes]:
    nodes = nodes_of(leaves)
    return [merkle.range_hash(s, e, nodes)
            for s, e in merkle.consistency_ranges(old, len(leaves))]


def test_hashes_are_rfc6962s() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == \
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == \
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert merkle.node_hash(b"N123", b"N456").hex() == \
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_roots_of_the_published_trees() -> None:
    for size, root in enumerate(ROOTS):
        assert merkle.root_of(LEAVES[:size]) == root, size
        nodes = nodes_of(LEAVES[:size])
        assert merkle.range_hash(0, size, nodes) == root, size


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["path"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    args = (case["leafIdx"], case["treeSize"], base64.b64decode(case["leafHash"]),
            b64(case["proof"]), base64.b64decode(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
        return
    merkle.verify_inclusion(*args)
    if case["treeSize"] <= 8 and args[2] == LEAVES[case["leafIdx"]]:  # built from LeafInputs
        assert inclusion(case["leafIdx"], LEAVES[:case["treeSize"]]) == args[3]


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["path"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], base64.b64decode(case["root1"]),
            base64.b64decode(case["root2"]), b64(case["proof"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
        return
    merkle.verify_consistency(*args)
    if args[3] == ROOTS[case["size2"]] and case["size1"] < case["size2"]:
        assert consistency(case["size1"], LEAVES[:case["size2"]]) == args[4]


def test_every_proof_of_small_trees_verifies() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    roots = [reference_root(leaves[:n]) for n in range(len(leaves) + 1)]
    for n in range(1, len(leaves) + 1):
        assert merkle.root_of(leaves[:n]) == roots[n]
        for i in range(n):
            merkle.verify_inclusion(i, n, leaves[i], inclusion(i, leaves[:n]), roots[n])
        for m in range(1, n + 1):
            merkle.verify_consistency(m, n, roots[m], roots[n], consistency(m, leaves[:n]))


def test_tampered_proofs_fail() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    root, proof = merkle.root_of(leaves), inclusion(6, leaves)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for index, size, leaf, path in ((6, 13, leaves[6], flipped), (7, 13, leaves[6], proof),
                                    (6, 7, leaves[6], proof), (6, 13, leaves[5], proof),
                                    (13, 13, leaves[6], proof), (6, 13, leaves[6], proof[:-1])):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, leaf, path, root)
    with pytest.raises(ProofError):
        merkle.inclusion_ranges(13, 13)
    with pytest.raises(ProofError):
        merkle.consistency_ranges(0, 5)


def test_tiles_hold_every_node_and_the_appender_matches_the_reference() -> None:
    rng = random.Random(7)  # noqa: S311
    leaves = [rng.randbytes(32) for _ in range(WIDTH * 2 + 37)]
    stored: dict[tuple[str, int, int], bytes] = {}

    def load(territory: str, size: int) -> dict[int, list[bytes]]:
        return {level: split(stored[(territory, *key)]) for level, key in partial_tiles(size).items()}

    tree = TreeAppender(load)
    for n, leaf in enumerate(leaves, start=1):
        tree.append("018182", n, leaf)
        if rng.random() < 0.05 or n == len(leaves):
            stored.update({(t, lv, ix): blob for t, lv, ix, blob in tree.take_writes()})
        if rng.random() < 0.02:  # a restart: the partial tiles come back from the store
            stored.update({(t, lv, ix): blob for t, lv, ix, blob in tree.take_writes()})
            tree.forget()
    assert tree.size("018182") == len(leaves)
    assert len(stored[("018182", 0, 0)]) == WIDTH * 32
    assert len(stored[("018182", 1, 0)]) == 2 * 32  # the roots of the two full level-0 tiles
    reference = nodes_of(leaves)
    for node, expected in reference.items():
        (level, index), sub, at = tile_of(node)
        rows = pyramid(split(stored[("018182", level, index)]))
        assert rows[sub][at] == expected, node
    with pytest.raises(RuntimeError):
        tree.append("018182", len(leaves) + 2, leaves[0])
