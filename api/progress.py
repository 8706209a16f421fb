"""A one-line progress bar on stderr for long operator commands (no dependency needed)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws one line on a terminal; elsewhere (logs, CI) prints a line at most every
    ``every`` seconds, and always the last one."""

    def __init__(
        self, label: str, stream: TextIO | None = None, width: int = 30, every: float = 1.0
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every
        self.started = time.monotonic()
        self._last_print = 0.0
        self._tty = self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not self._tty and not final and now - self._last_print < self.every:
            return
        self._last_print = now
        fraction = 1.0 if total <= 0 else min(done / total, 1.0)
        filled = int(fraction * self.width)
        rate = done / max(now - self.started, 1e-6)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%}"
            f"  {done}/{total} events  {rate:,.0f}/s"
        )
        self.stream.write(("\r" + line) if self._tty else line + "\n")
        if self._tty and final:
            self.stream.write("\n")
        self.stream.flush()
