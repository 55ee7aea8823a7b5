"""Loaded models, kept in a least-recently-used cache bounded by count and by bytes of weights, one lock each.

A model is loaded on first use (``genlab.load``: config.json and safetensors weights, nothing executed from the
run folder) and reloaded when its checkpoint changes (a run still training). A model whose weights alone
exceed the byte bound is refused before loading. Comparisons (``/compare``) are kept in a
:class:`ResultCache` bounded by count.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GenlabError
from ..training import checkpoint as ck


class TooLarge(GenlabError):
    """A model larger than the cache may hold."""


@dataclass
class Entry:
    model: object
    nbytes: int
    stamp: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    def __init__(self, max_models: int = 4, max_bytes: int = 2 * 2**30):
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._mutex = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.loads = 0  # models loaded so far (tests and the load benchmark read it)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        with self._mutex:
            return sum(e.nbytes for e in self._entries.values())

    def get(self, key: str, run_dir: Path, ckpt_dir: Path) -> Entry:
        """The entry of run ``key`` (loaded, or reloaded when its checkpoint changed)."""
        weights = ckpt_dir / "ema.safetensors"
        weights = weights if weights.is_file() else ckpt_dir / "model.safetensors"
        stamp = weights.stat().st_mtime
        with self._mutex:
            e = self._entries.get(key)
            if e is not None and e.stamp == stamp:
                self._entries.move_to_end(key)
                return e
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:  # one load per run at a time; others wait for it
            with self._mutex:
                e = self._entries.get(key)
                if e is not None and e.stamp == stamp:
                    self._entries.move_to_end(key)
                    return e
            size = weights.stat().st_size
            if size > self.max_bytes:
                raise TooLarge(f"run {key!r} has {ck.human_bytes(size)} of weights, more than the server's model "
                               f"cache holds ({ck.human_bytes(self.max_bytes)}); restart with a larger --cache-bytes")
            from ..training.run import load

            model = load(run_dir, device="cpu")
            nbytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
            entry = Entry(model, max(nbytes, size), stamp)
            with self._mutex:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                self.loads += 1
                self._evict(keep=key)
            return entry

    def _evict(self, keep: str) -> None:
        """Drop the least recently used models until the bounds hold (never the one just loaded). A request
        still sampling from an evicted model keeps its own reference until it finishes."""
        while len(self._entries) > 1 and (len(self._entries) > self.max_models or
                                          sum(e.nbytes for e in self._entries.values()) > self.max_bytes):
            oldest = next(iter(self._entries))
            if oldest == keep:
                break
            del self._entries[oldest]


class ResultCache:
    """Computed results (comparisons) by key, least recently used evicted beyond ``max_items``. A key being
    computed is shared: a second request for it waits on the same future instead of computing it again. A
    failed computation is dropped, so asking again retries it."""

    def __init__(self, max_items: int = 16):
        self.max_items = max_items
        self._items: OrderedDict[tuple, Future] = OrderedDict()
        self._mutex = threading.Lock()
        self.computed = 0  # computations started (tests read it)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple, submit) -> Future:
        """The future of ``key``: cached, in flight, or ``submit()`` (which starts the computation)."""
        with self._mutex:
            fut = self._items.get(key)
            if fut is not None and not (fut.done() and (fut.cancelled() or fut.exception() is not None)):
                self._items.move_to_end(key)
                return fut
            fut = submit()
            self.computed += 1
            self._items[key] = fut
            done = [k for k, f in self._items.items() if f.done() and k != key]
            while len(self._items) > self.max_items and done:  # only finished ones are evicted
                del self._items[done.pop(0)]
        fut.add_done_callback(lambda f: self._forget_failed(key, f))
        return fut

    def _forget_failed(self, key: tuple, fut: Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            with self._mutex:
                if self._items.get(key) is fut:
                    del self._items[key]
