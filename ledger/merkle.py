"""RFC 9162 section 2.1 Merkle trees: hashes, inclusion and consistency proofs, verification.

Pure functions. A proof is computed in two steps so that a store answers it in one lookup:
`inclusion_ranges` / `consistency_ranges` name the subtrees whose hashes make the proof,
`perfect_nodes` splits each into perfect subtrees (`Node` = (level, index), the subtree over
leaves [index << level, (index + 1) << level)), the store fetches those, and `range_hash`
folds them. Every range that appears is aligned (it starts at a multiple of a power of two
at least its length), so it splits into perfect subtrees of decreasing size and its hash is
the right fold of theirs. Verification follows RFC 9162 2.1.3.2 and 2.1.4.2, with the
preconditions of transparency-dev/merkle (whose test vectors tests/unit/test_merkle.py runs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

Node = tuple[int, int]
Range = tuple[int, int]
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or a request no proof can answer."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The aligned range [start, end) as perfect subtrees, left to right."""
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its perfect subtrees, left to right."""
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    if start == end:
        return EMPTY_ROOT
    return fold([nodes[n] for n in perfect_nodes(start, end)])


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of leaf hashes held in memory (tests, the auditor's recomputation)."""
    if not leaves:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (height, hash) of perfect subtrees, left to right
    for h in leaves:
        height = 0
        while stack and stack[-1][0] == height:
            h = node_hash(stack.pop()[1], h)
            height += 1
        stack.append((height, h))
    return fold([h for _, h in stack])


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """PATH(index, D[0:size]) as subtree ranges, from the leaf's sibling up."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return path[::-1]


def consistency_ranges(old: int, new: int) -> list[Range]:
    """PROOF(old, D[0:new]) (RFC 9162 2.1.4.1) as subtree ranges, in proof order."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    path: list[Range] = []
    start, end, m, complete = 0, new, old, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append((start, end))
    return path[::-1]


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    return {node for start, end in ranges for node in perfect_nodes(start, end)}


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------------
def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is beyond the tree of size {size}")
    _check_hashes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root hash")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old == new:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need equal roots and an empty proof")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    _check_hashes(old_root, new_root, *proof)
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("the consistency proof does not link the two roots")
