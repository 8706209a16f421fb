"""A bounded, short-lived cache of unwrapped data keys, to spare the keystore a read per use.

Entries expire after ``ttl`` seconds and the least recently used go first beyond
``max_entries``. Destruction evicts at once in the destroying process; the TTL bounds how
long any other process could hold a key it no longer needs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar
from uuid import UUID

V = TypeVar("V")


class KeyCache(Generic[V]):
    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[UUID, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, subject_id: UUID) -> V | None:
        with self._lock:
            entry = self._entries.get(subject_id)
            if entry is None:
                return None
            stored_at, value = entry
            if self.clock() - stored_at > self.ttl:
                del self._entries[subject_id]
                return None
            self._entries.move_to_end(subject_id)
            return value

    def put(self, subject_id: UUID, value: V) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[subject_id] = (self.clock(), value)
            self._entries.move_to_end(subject_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def evict(self, subject_id: UUID) -> None:
        with self._lock:
            self._entries.pop(subject_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
