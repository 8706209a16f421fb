"""Group commit: concurrent commands share one transaction, each still durable when answered.

A committer thread takes every command waiting in the queue at that moment and saves them
together, so under load N commands cost one lock and one flush instead of N. If the shared
transaction fails on a conflict, the batch is retried one command at a time, so a command
that lost a race fails alone and its neighbours commit. Nothing waits for a batch to fill:
with one client, each command is its own batch.

Each batch's size (commands in the shared transaction, not events) goes to an optional
observer, the ``crm_group_commit_batch_commands`` histogram of ``/metrics``: how much
sharing the load really produces is what tells whether group commit pays.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, Recording

log = logging.getLogger("crm.group_commit")

Save = Callable[..., list[Recording[Any]]]


class BatchSizes(Protocol):
    """Where batch sizes go (a ``prometheus_client`` histogram is one)."""

    def observe(self, amount: float) -> None: ...


@dataclass
class _Command:
    items: Sequence[Any]
    result: Future[list[Recording[Any]]] = field(default_factory=Future)


class GroupCommitter:
    def __init__(
        self, save: Save, max_batch: int = 256, batch_sizes: BatchSizes | None = None
    ) -> None:
        self._save = save
        self._max_batch = max_batch
        self._batch_sizes = batch_sizes
        self._queue: queue.SimpleQueue[_Command | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def submit(self, items: Sequence[Any]) -> list[Recording[Any]]:
        """Save ``items`` (domain events, already collected from their aggregates, so a
        retry can save them again) atomically; return their recordings once committed, or
        raise what saving them alone would have raised."""
        return self.enqueue(items).result()

    def enqueue(self, items: Sequence[Any]) -> Future[list[Recording[Any]]]:
        """:meth:`submit` without the wait: the future of the recordings (or of the error),
        for a caller that must not hold a thread while the batch commits."""
        self._ensure_started()
        command = _Command(items)
        self._queue.put(command)
        return command.result

    def close(self) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    command = self._queue.get_nowait()
                except queue.Empty:
                    break
                if command is None:
                    self._commit(batch)
                    return
                batch.append(command)
            self._commit(batch)

    def _commit(self, batch: list[_Command]) -> None:
        if self._batch_sizes is not None:
            self._batch_sizes.observe(len(batch))
        if len(batch) == 1:
            self._commit_alone(batch[0])
            return
        try:
            recordings = self._save(*[item for command in batch for item in command.items])
        except IntegrityError:
            for command in batch:  # find the loser(s): everyone else still commits
                self._commit_alone(command)
            return
        except BaseException as exc:
            for command in batch:
                command.result.set_exception(exc)
            return
        start = 0
        for command in batch:
            command.result.set_result(recordings[start : start + len(command.items)])
            start += len(command.items)

    def _commit_alone(self, command: _Command) -> None:
        try:
            command.result.set_result(self._save(*command.items))
        except BaseException as exc:
            command.result.set_exception(exc)
