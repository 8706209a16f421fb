"""Keys destroyed by another process leave this one's cache at once (PostgreSQL keystores).

Each process caches the data keys it unwrapped (:mod:`crypto.key_cache`), and a process
that destroys a key evicts it from its own cache. Without more, another process could keep
serving a destroyed key from memory until the cache's TTL ran out. So the destroying
transaction notifies :data:`DESTROYED_CHANNEL` with the subject's id, and every process
that caches keys listens there and drops that subject's key as soon as the destruction
commits. When the listening connection is made, and whenever it is lost, the whole cache is
cleared: a destruction notified while nobody listened must not be served from memory.
While the connection stays down, the TTL bounds what is cached, as it does on SQLite,
whose keystores have no notifications (the embedded default is one serving process).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from crypto.key_cache import KeyCache

log = logging.getLogger("crm.keys")

DESTROYED_CHANNEL = "crm_key_destroyed"
RETRY_SECONDS = 1.0
POLL_SECONDS = 0.5  # how often the listener looks at its stop flag between notifications


class DestroyedKeyListener:
    """Listens on :data:`DESTROYED_CHANNEL` of the keystore's database in a daemon thread
    and evicts each notified subject from ``cache``."""

    def __init__(self, conninfo: str, cache: KeyCache[Any]) -> None:
        self.conninfo = conninfo
        self.cache = cache
        self.listening = threading.Event()  # set while notifications can reach us
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="key-evictions", daemon=True)

    def start(self) -> DestroyedKeyListener:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening: the thread ends, closing its connection, within POLL_SECONDS.
        Not waited for, so that closing a service costs nothing."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                if self._stop.is_set():  # closing: the server may be going away too
                    return
                log.warning(
                    "key destruction listener lost its connection; cache cleared",
                    extra={"error_type": type(exc).__name__, "retry_in_s": RETRY_SECONDS},
                )
            finally:
                self.listening.clear()
                self.cache.clear()
            self._stop.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(DESTROYED_CHANNEL)))
            self.cache.clear()  # what was destroyed before this connection listened
            self.listening.set()
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=POLL_SECONDS):
                    self._evict(notice.payload)

    def _evict(self, payload: str) -> None:
        try:
            subject_id = UUID(payload)
        except ValueError:  # not ours: nothing to evict, but say so
            log.warning("key destruction notice without a subject id")
            return
        self.cache.evict(subject_id)
