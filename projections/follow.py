"""Following the log continuously: the loop behind the projection worker and the relay.

A step (catch up, pump the relay, poll Kafka) runs again and again until asked to stop.
Between steps the loop waits for new events: on PostgreSQL it listens on the event store's
NOTIFY channel, so it wakes as soon as a command commits; elsewhere it polls. A store or
broker that is away makes the step fail: the loop logs it, backs off and tries again.
After every good step it touches the heartbeat file the container health check reads.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg import sql

from storage.recorders import ProjectedHere

log = logging.getLogger("crm.follow")

MAX_BACKOFF_SECONDS = 5.0

#: Failures that mean "a server is unreachable or busy", worth waiting out. Anything else
#: is a bug and ends the process, so that it is seen (and the supervisor restarts it).
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
)


class Waiter(Protocol):
    def wait(self, timeout: float) -> None: ...

    def close(self) -> None: ...


class PollingWaiter:
    """Waits the whole interval (or until stopped)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def wait(self, timeout: float) -> None:
        self.stop.wait(timeout)

    def close(self) -> None:
        pass


class NotifyWaiter:
    """Wakes on the event store's LISTEN/NOTIFY channel (every insert notifies it), or at
    the interval at the latest. Falls back to polling while the connection is down."""

    def __init__(
        self,
        conninfo: str,
        channel: str,
        stop: threading.Event,
        settle: float = 0.0,
        projected_here: ProjectedHere | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.stop = stop
        # After a wake, how long to let further commits gather before the step runs: the
        # API's own follower would otherwise catch up once per commit it made itself.
        self.settle = settle
        # This process's commits that applied every projection in their transaction: their
        # notifications wake nobody, there is nothing to catch up (the interval still does).
        self.projected_here = projected_here
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
            self._conn = conn
        return self._conn

    def wait(self, timeout: float) -> None:
        try:
            conn = self._connection()
            woken = self._news(conn, time.monotonic() + timeout)
            if woken and self.settle:
                self.stop.wait(self.settle)
            for _ in conn.notifies(timeout=0.0):  # what came meanwhile: one step covers it
                pass
        except psycopg.OperationalError:
            self.close()
            self.stop.wait(timeout)

    def _news(self, conn: psycopg.Connection[tuple[object, ...]], deadline: float) -> bool:
        """Wait for a notification that may need catching up, until ``deadline``."""
        here = self.projected_here
        while (remaining := deadline - time.monotonic()) > 0:
            if here is not None and here.behind.is_set():
                here.behind.clear()
                return True
            # Read to the end: one read can bring several notifications, each to be judged.
            senders = [n.pid for n in conn.notifies(timeout=remaining, stop_after=1)]
            if not senders:
                return False
            if here is None or any(pid not in here.backends for pid in senders):
                return True
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def touch(path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def follow(
    step: Callable[[], object],
    *,
    stop: threading.Event,
    waiter: Waiter,
    interval: float,
    heartbeat: Path | None = None,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
    idle: Callable[[object], bool] = lambda _: True,
) -> None:
    """Run ``step`` until ``stop`` is set. ``idle(result)`` says whether the step found
    nothing to do (then the loop waits for news) or should run again at once."""
    backoff = interval
    try:
        while not stop.is_set():
            try:
                result = step()
            except transient as exc:
                backoff = min(max(backoff * 2, 0.1), MAX_BACKOFF_SECONDS)
                log.warning(
                    "step failed; retrying",
                    extra={"error_type": type(exc).__name__, "retry_in_s": backoff},
                )
                stop.wait(backoff)
                continue
            backoff = interval
            touch(heartbeat)
            if idle(result):
                waiter.wait(interval)
    finally:
        waiter.close()


class Follower:
    """:func:`follow` in a daemon thread: the API's own projection runner when projections
    are applied inline, so events written by other processes reach its read models too."""

    def __init__(
        self,
        step: Callable[[], object],
        make_waiter: Callable[[threading.Event], Waiter],
        interval: float,
    ) -> None:
        self.stop = threading.Event()
        self._thread = threading.Thread(
            target=follow,
            args=(step,),
            kwargs={"stop": self.stop, "waiter": make_waiter(self.stop), "interval": interval},
            name="crm-follower",
            daemon=True,
        )

    def start(self) -> Follower:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=10)
