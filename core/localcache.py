"""Tiny per-process caches with a time to live, for lookups on the webhook hot path (host → company,
channel URL → channel). Entries live a few seconds, so a change made in another process is seen soon;
the process that makes a change clears the cache itself."""

from __future__ import annotations

import threading
import time
from typing import Any

_ALL: list[TTLCache] = []


class TTLCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, key: Any, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def clear_all() -> None:
    for cache in _ALL:
        cache.clear()
