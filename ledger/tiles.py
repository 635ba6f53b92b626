"""Each territory's Merkle tree, stored in PostgreSQL as tiles of 256 hashes (tlog-tiles layout).

Tile (level L, index N) holds the hashes of the tree nodes at height 8L with indices
[256N, 256N + width): level 0 holds leaf hashes, level 1 the roots of full level-0 tiles, and
so on. Only the last tile of a level is partial; a full tile never changes. The nodes between
two tile levels are recomputed from a tile (at most 255 hashes, cached for full tiles), so a
proof of a 1,000,000-leaf tree reads three or four tiles in one query.

`TreeAppender` keeps the partial tiles of the territories the relay touches in memory and
hands out the tiles an append changed (`take_writes`); the relay writes them with its own
bookkeeping of the batch (`write_tiles`, same transaction), so the stored tree and the relay's
chain never disagree. `TileReader` computes nodes of the stored tree for proofs and roots.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection

from ledger.merkle import Node, node_hash

HEIGHT = 8
WIDTH = 1 << HEIGHT
HASH = 32
TileKey = tuple[int, int]  # (tile level, tile index)


class MissingTiles(LookupError):
    """The stored tree is smaller than asked (not relayed yet, or being rebuilt)."""


def tile_of(node: Node) -> tuple[TileKey, int, int]:
    """The tile holding a node, the node's height inside it, and its index there."""
    level, index = node
    tile_level, sub = divmod(level, HEIGHT)
    first = index << sub
    return (tile_level, first >> HEIGHT), sub, (first & (WIDTH - 1)) >> sub


def partial_tiles(size: int) -> dict[int, TileKey]:
    """The last, partial tile of every level of a tree of `size` leaves (none when full)."""
    out, level = {}, 0
    while size >> (HEIGHT * level):
        count = size >> (HEIGHT * level)
        if count % WIDTH:
            out[level] = (level, count >> HEIGHT)
        level += 1
    return out


def pyramid(hashes: list[bytes]) -> list[list[bytes]]:
    """The full nodes of one tile, by height inside it (0 = the tile's own hashes)."""
    rows = [hashes]
    while len(rows) < HEIGHT and len(rows[-1]) > 1:
        below = rows[-1]
        rows.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return rows


def split(blob: bytes) -> list[bytes]:
    return [blob[i:i + HASH] for i in range(0, len(blob), HASH)]


# -- appending (the relay) -----------------------------------------------------------------------
@dataclass
class _Tree:
    size: int
    tiles: list[list[bytes]] = field(default_factory=list)  # the partial tile of each level


Loader = Callable[[str, int], dict[int, list[bytes]]]


class TreeAppender:
    """Appends leaves per territory; knows only the partial tiles, loaded on first touch."""

    def __init__(self, load: Loader) -> None:
        self.load = load
        self.trees: dict[str, _Tree] = {}
        self.dirty: dict[tuple[str, int, int], list[bytes]] = {}

    def append(self, territory: str, seq: int, leaf: bytes) -> None:
        tree = self.trees.get(territory)
        if tree is None:
            tree = self.trees[territory] = self._open(territory, seq - 1)
        if seq != tree.size + 1:
            raise RuntimeError(f"tree of {territory} has {tree.size} leaves; cannot append seq {seq}")
        tree.size += 1
        level, h, count = 0, leaf, tree.size
        while True:
            if level == len(tree.tiles):
                tree.tiles.append([])
            tile = tree.tiles[level]
            tile.append(h)
            self.dirty[(territory, level, (count - 1) >> HEIGHT)] = tile
            if len(tile) < WIDTH:
                return
            h = node_hash(*pyramid(tile)[-1])  # the tile's root, a hash of the next level
            tree.tiles[level] = []
            level, count = level + 1, count >> HEIGHT

    def _open(self, territory: str, size: int) -> _Tree:
        stored = self.load(territory, size) if size else {}
        tree = _Tree(size)
        for level in range(max(partial_tiles(size), default=-1) + 1):
            expected = (size >> (HEIGHT * level)) % WIDTH
            tile = stored.get(level, []) if expected else []
            if len(tile) != expected:
                raise MissingTiles(f"stored tree of {territory} does not hold {size} leaves")
            tree.tiles.append(tile)
        return tree

    def size(self, territory: str) -> int | None:
        tree = self.trees.get(territory)
        return tree.size if tree else None

    def take_writes(self) -> list[tuple[str, int, int, bytes]]:
        """The tiles changed since the last call, as rows to upsert."""
        rows = [(t, level, index, b"".join(tile)) for (t, level, index), tile in self.dirty.items()]
        self.dirty.clear()
        return rows

    def forget(self) -> None:
        """Drop what is in memory (after a failed batch): reloaded from the database on use."""
        self.trees.clear()
        self.dirty.clear()


def load_partial_tiles(conn: Connection[Any], territory: str, size: int) -> dict[int, list[bytes]]:
    keys = partial_tiles(size)
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT t.level, t.hashes FROM log_tiles t JOIN unnest(%s::smallint[], %s::bigint[])"
        " AS w(level, idx) USING (level, idx) WHERE t.territory = %s",
        ([k[0] for k in keys.values()], [k[1] for k in keys.values()], territory)).fetchall()
    return {r["level"]: split(bytes(r["hashes"])) for r in rows}


def write_tiles(conn: Connection[Any], rows: list[tuple[str, int, int, bytes]]) -> None:
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO log_tiles (territory, level, idx, hashes) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (territory, level, idx) DO UPDATE SET hashes = EXCLUDED.hashes", rows)


# -- reading (proofs, roots, signing) ------------------------------------------------------------
def width_at(key: TileKey, size: int) -> int:
    """How many hashes tile `key` holds in the tree of `size` leaves (a prefix of it later)."""
    level, index = key
    return max(0, min(WIDTH, (size >> (HEIGHT * level)) - (index << HEIGHT)))


class TileCache:
    """Pyramids of tiles as they are at a given width. A tile only grows, so a tile at a given
    width never changes: proofs against a checkpoint's size mostly read no tile at all."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.items: OrderedDict[tuple[str, int, int, int], list[list[bytes]]] = OrderedDict()

    def get(self, key: tuple[str, int, int, int]) -> list[list[bytes]] | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: tuple[str, int, int, int], rows: list[list[bytes]]) -> None:
        self.items[key] = rows
        if len(self.items) > self.capacity:
            self.items.popitem(last=False)


class TileReader:
    """Nodes of one territory's stored tree of `size` leaves, its tiles fetched in one query."""

    def __init__(self, conn: Connection[Any], territory: str, size: int,
                 cache: TileCache | None = None) -> None:
        self.conn = conn
        self.territory = territory
        self.size = size
        self.cache = cache

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        located = {node: tile_of(node) for node in wanted}
        tiles = self._tiles({key for key, _, _ in located.values()})
        out = {}
        for node, (key, sub, index) in located.items():
            rows = tiles.get(key)
            if rows is None or len(rows) <= sub or len(rows[sub]) <= index:
                raise MissingTiles(f"the tree of {self.territory} at size {self.size} has no "
                                   f"node {node}")
            out[node] = rows[sub][index]
        return out

    def _tiles(self, keys: set[TileKey]) -> dict[TileKey, list[list[bytes]]]:
        found: dict[TileKey, list[list[bytes]]] = {}
        missing = []
        for key in keys:
            cached = self.cache.get((self.territory, *key, width_at(key, self.size))) \
                if self.cache else None
            if cached is None:
                missing.append(key)
            else:
                found[key] = cached
        if missing:
            rows = self.conn.execute(
                "SELECT t.level, t.idx, t.hashes FROM log_tiles t JOIN unnest(%s::smallint[],"
                " %s::bigint[]) AS w(level, idx) USING (level, idx) WHERE t.territory = %s",
                ([k[0] for k in missing], [k[1] for k in missing], self.territory)).fetchall()
            for r in rows:
                key = (r["level"], r["idx"])
                width = width_at(key, self.size)
                hashes = split(bytes(r["hashes"])[:width * HASH])
                if len(hashes) < width:
                    raise MissingTiles(f"tile {key} of {self.territory} holds {len(hashes)} of "
                                       f"{width} hashes")
                found[key] = pyramid(hashes)
                if self.cache is not None:
                    self.cache.put((self.territory, *key, width), found[key])
        return found
