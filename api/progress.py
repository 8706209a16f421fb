"""Progress of long operator commands (rebuild, verify, rotate-kek) on stderr, drawn by rich.

On a terminal: a live bar with the count, the percentage, the time spent and the time
left. Anywhere else (a log file, CI, a pipe): nothing while it runs, since a redrawn bar
would fill the log, and one summary line at the end, so the log still says how far the
command got, how long it took and at what rate.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBar:
    """``with ProgressBar("verifying") as bar: work(progress=bar)``; the work calls
    ``bar(done, total)`` as it goes. Leaving the block stops the bar and, off a terminal,
    prints the summary line (after a failure too: how far it got is worth knowing)."""

    def __init__(
        self,
        label: str,
        unit: str = "events",
        stream: TextIO | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.label = label
        self.unit = unit
        self.console = Console(file=stream or sys.stderr, force_terminal=terminal)
        self.done = 0
        self.total = 0
        self._started = time.monotonic()
        self._live: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        self._started = time.monotonic()
        if self.console.is_terminal:
            self._live = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit, markup=False),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._live.start()
            self._task = self._live.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self._live is not None and self._task is not None:
            self._live.update(self._task, completed=done, total=max(total, done))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()  # the bar stays on screen with its final state
        else:
            self.console.print(self.summary(), markup=False, highlight=False, soft_wrap=True)

    def summary(self) -> str:
        """``verifying: 100%  20,000/20,000 events in 1.2s (16,667/s)``."""
        elapsed = time.monotonic() - self._started
        fraction = 1.0 if self.total <= 0 else min(self.done / self.total, 1.0)
        rate = self.done / max(elapsed, 1e-6)
        return (
            f"{self.label}: {fraction:.0%}  {self.done:,}/{self.total:,} {self.unit}"
            f" in {elapsed:.1f}s ({rate:,.0f}/s)"
        )
