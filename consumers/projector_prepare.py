"""The projector's batches, parsed and prepared in a process of its own.

Parsing a polled batch and working out each projection's rows as COPY text (`store.prepare`)
is most of the projector's Python work. In the projector's process it shares one GIL with
polling and with the thread that writes to PostgreSQL, so on two cores the three took turns.
`Preparer` hands each polled batch's raw records to a child process (a new interpreter running
this module) and gets back, in order, what `store.apply` needs to write it as prepared: each
record's header (partition, offset, validity, territory, position) and the prepared batches.

The child is a pure function of the bytes it is sent: it reads no database and owns no state
between batches, so nothing it does can lose or repeat a record — the projector writes every
batch, and its tracking, in its own transaction as before, and a batch prepared ahead that
tracking shows was (partly) applied is derived again there (`store.apply`). Should the child
fail on a batch, or die, that batch (and any other the dead one held) is prepared in the
projector's process instead (the same function, the same result); a new child takes the next
batches (after MAX_LOSSES children lost, the projector prepares everything itself).
`drop()` forgets what was sent ahead (the projector re-sought from tracking): the old replies
are recognised by their generation and discarded.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection

from ledger.projections import store
from ledger.projections.records import Record

log = logging.getLogger(__name__)

Message = tuple[int, int, bytes]  # partition, offset, value
MAX_LOSSES = 3  # children lost before the projector stops starting new ones
READY_SECONDS = 60.0  # for a new child to start
GC_THRESHOLD = 200_000  # the child's first-generation threshold (Python's default: 700)
Header = tuple[bool, str, int]  # valid, territory, position


def prepare_here(messages: list[Message]) -> store.Prepared:
    """What the child does, in this process."""
    return store.prepare([Record.parse(p, o, v) for p, o, v in messages])


class Preparer:
    """The projector's end: `submit` polled batches, `receive` them prepared, in order."""

    def __init__(self, apart: bool = True) -> None:
        """apart=False: no child, every batch prepared in this process when received."""
        self.generation = 0
        # Submitted, not yet received: the batch and the child it was sent to (0: none).
        self.waiting: deque[tuple[list[Message], int]] = deque()
        self.seconds: dict[str, float] = {"cpu (its process)": 0.0}
        self.locally = 0  # batches prepared in this process (no child, or it failed)
        self.children = self.losses = 0
        self.conn: Connection | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.apart = apart
        if apart:
            self._spawn()

    def _spawn(self) -> None:
        """A new child, once it is ready (its imports done, CPU that would otherwise be taken
        from the first batches). A fresh interpreter running this module: unlike
        multiprocessing's spawn it does not import the parent's main module again."""
        self.children += 1
        mine, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        self.conn = Connection(mine.detach())
        try:
            ready = self.conn.poll(READY_SECONDS) and self.conn.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._lost("did not start")

    def _lost(self, why: str) -> None:
        self.losses += 1
        log.warning("the projector's preparer process %s; what it held is prepared in this "
                    "process%s", why, "" if self.losses < MAX_LOSSES else ", and all that follows")
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self._end(1)

    def submit(self, messages: list[Message]) -> None:
        if self.conn is None and self.apart and self.losses < MAX_LOSSES:  # a new one
            self._spawn()
        if self.conn is not None:
            try:
                self.conn.send(("prepare", self.generation, messages))
            except OSError as err:
                self._lost(f"could not be reached ({err})")
        self.waiting.append((messages, self.children if self.conn is not None else 0))

    def receive(self) -> store.Prepared:
        """The oldest batch submitted, prepared; by this process should its child be gone."""
        messages, child = self.waiting.popleft()
        while self.conn is not None and child == self.children:
            try:
                reply = self.conn.recv()
            except (EOFError, OSError):
                self._lost("ended")
                break
            if reply[1] != self.generation:
                continue  # sent before a drop()
            if reply[0] == "error":
                log.warning("preparing a batch failed in the preparer process: %s", reply[2])
                break
            _, _, headers, batches, summary, cpu = reply
            self.seconds["cpu (its process)"] += cpu
            prepared = store.Prepared(
                Record.header(p, o, v, valid, territory, position)
                for (p, o, v), (valid, territory, position) in zip(messages, headers, strict=True))
            prepared.batches, prepared.summary = batches, summary
            return prepared
        self.locally += 1
        return prepare_here(messages)

    def drop(self) -> None:
        """Forget every batch submitted and not received."""
        if self.waiting:
            self.generation += 1
            self.waiting.clear()

    def close(self) -> None:
        self.waiting.clear()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(("stop", self.generation, []))
        self._end(5)
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _end(self, seconds: float) -> None:
        """Wait for the child to exit, at most `seconds`, then make it."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def serve(conn: Connection) -> None:
    """The child: prepares batches until told to stop or the projector goes away. A thread
    reads the requests as they come, so the projector never blocks sending one while this
    process is sending it a reply."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Each batch makes some hundred thousand containers (records, their values, rows), none
    # in a cycle and all gone with the batch: the default thresholds had the collector
    # traverse them again and again (a fifth of this process's time). Collections stay on,
    # rarer; what the imports made is set aside for good.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 1000)
    inbox: queue.SimpleQueue[tuple[str, int, list[Message]] | None] = queue.SimpleQueue()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                inbox.put(None)
                return
            inbox.put(message)
            if message[0] == "stop":
                return

    threading.Thread(target=read, name="requests", daemon=True).start()
    try:
        conn.send(("ready",))
    except OSError:
        return
    while True:
        message = inbox.get()
        if message is None or message[0] == "stop":
            return
        _, generation, messages = message
        try:
            cpu = time.process_time()
            prepared = prepare_here(messages)
            headers: list[Header] = [(r.valid, r.territory, r.position) if r.valid
                                     else (False, "", 0) for r in prepared]
            batches = (store.shippable(prepared.batches) if prepared.batches is not None
                       else None)
            conn.send(("prepared", generation, headers, batches, prepared.summary,
                       time.process_time() - cpu))
        except (EOFError, OSError):
            return
        except Exception as error:  # noqa: BLE001 - the projector prepares it itself
            with contextlib.suppress(OSError):
                conn.send(("error", generation, f"{type(error).__name__}: {error}"))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
