"""Where the time goes: wall-clock timers around the relay's and projector's steps (always
on, one perf_counter pair per call), and cProfile of a phase when BENCH_PROFILE names a
directory (stats saved there as <phase>.prof, top functions printed). cProfile sees one
thread only, so the steps that run in a worker thread (the projector's store.apply, the
relay's commit) get a profile of their own, <phase>.<step>.prof."""

from __future__ import annotations

import cProfile
import functools
import io
import pstats
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import consumers.relay_builder
from ledger.projections import store


class Profiler:
    def __init__(self, directory: str | None, top: int = 25) -> None:
        self.directory = Path(directory) if directory else None
        self.top = top
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.walls: dict[str, float] = {}
        self._phase = ""
        self._undo: list[Callable[[], None]] = []
        self._threaded: dict[str, cProfile.Profile] = {}
        self._builders: list[Any] = []  # relays whose builder process reports its own time

    def _wrap(self, owner: Any, attr: str, label: str) -> None:
        """Time every call of owner.attr (a module, class or instance attribute)."""
        own = vars(owner)
        had, saved = attr in own, own.get(attr)
        inner = getattr(owner, attr)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[self._phase][label] += time.perf_counter() - started
                self.calls[self._phase][label] += 1

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, saved) if had else delattr(owner, attr))

    def _profile_calls(self, owner: Any, attr: str, step: str) -> None:
        """cProfile every call of owner.attr in whichever thread it runs (BENCH_PROFILE)."""
        if self.directory is None:
            return
        profile = self._threaded[step] = cProfile.Profile()
        own = vars(owner)
        had, saved = attr in own, own.get(attr)
        inner = getattr(owner, attr)

        @functools.wraps(inner)
        def profiled(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                return inner(*args, **kwargs)  # the phase's own profile sees it
            profile.enable()
            try:
                return inner(*args, **kwargs)
            finally:
                profile.disable()

        setattr(owner, attr, profiled)
        self._undo.append(lambda: setattr(owner, attr, saved) if had else delattr(owner, attr))

    def watch_relay(self, relay: Any) -> None:
        self._profile_calls(relay, "_commit", "commit")
        self._wrap(relay.recorder, "select_notifications", "pg select_notifications")
        self._wrap(relay, "decode", "transcoder.decode")
        self._wrap(consumers.relay_builder, "encode_record", "encode_record (jcs+sha256)")
        self._wrap(relay, "_records", "_records (decode+build+json.dumps)")
        self._wrap(relay.producer, "begin_transaction", "producer.begin_transaction")
        self._wrap(relay.producer, "send", "producer.send")
        if relay.appender is not None:  # what producer.send does, per batch (consumers/relay.py)
            self._wrap(relay.appender, "send", "Appender.send (the batch's producer.send)")
        self._wrap(relay.producer, "commit_transaction", "producer.commit_transaction")
        self._wrap(relay.chain, "save", "chain.save (pg)")
        if relay.builder is not None:  # records built in a process of its own, pipelined
            self._wrap(relay.builder, "receive", "wait for the builder process")
            self._builders.append(relay)

    def watch_projector(self, projector: Any) -> None:
        self._profile_calls(projector, "_apply_batch", "apply")
        self._wrap(projector.consumer, "poll", "consumer.poll")
        self._wrap(store, "apply", "store.apply (pg, in txn)")
        for name, cls in store.PROJECTIONS.items():
            self._wrap(cls, "add", f"{name}.add")
            self._wrap(cls, "flush", f"{name}.flush (pg)")
        self._wrap(projector, "_commit_group_offsets", "group offset commit")
        if getattr(projector, "preparer", None) is not None:  # batches prepared in a child
            self._wrap(projector.preparer, "receive", "wait for the preparer process")
            self._builders.append(projector.preparer)

    @contextmanager
    def section(self, phase: str) -> Iterator[None]:
        self._phase = phase
        profile = cProfile.Profile() if self.directory else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        try:
            yield
        finally:
            if profile:
                profile.disable()
            self.walls[phase] = time.perf_counter() - started
            for relay in self._builders:  # not this process's time: shown apart
                child = getattr(relay, "builder_seconds", None)
                for step, secs in (child if child is not None else relay.seconds).items():
                    self.seconds[phase][f"[builder process] {step}"] += secs
            self._builders.clear()
            self._phase = ""
            while self._undo:
                self._undo.pop()()
            if profile and self.directory:
                self.directory.mkdir(parents=True, exist_ok=True)
                profile.dump_stats(str(self.directory / f"{phase}.prof"))
                print(self._top(profile, phase), flush=True)
                for step, threaded in self._threaded.items():
                    threaded.dump_stats(str(self.directory / f"{phase}.{step}.prof"))
                    print(self._top(threaded, f"{phase}, {step} thread"), flush=True)
            self._threaded.clear()

    def _top(self, profile: cProfile.Profile, phase: str) -> str:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs()
        for key in ("tottime", "cumulative"):
            out.write(f"\n=== cProfile {phase}: top {self.top} by {key} ===\n")
            stats.sort_stats(key).print_stats(self.top)
        return out.getvalue()

    def breakdown(self, phase: str) -> list[str]:
        wall = self.walls.get(phase, 0.0)
        lines = [f"  {phase} breakdown (wall {wall:.2f}s, main thread; [builder process]: the "
                 "child that builds the records, in parallel):"]
        for label, secs in sorted(self.seconds[phase].items(), key=lambda kv: -kv[1]):
            share = 100 * secs / wall if wall else 0.0
            lines.append(f"    {label:<40} {secs:8.2f}s {share:5.1f}%  "
                         f"calls={self.calls[phase][label]}")
        return lines
