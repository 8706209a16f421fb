"""The timer behind the checkpointer: runs at once, then on schedule, through failures."""

from __future__ import annotations

from api.background import Periodic
from tests.harness import wait_until


def test_the_first_run_is_at_start_not_after_one_interval() -> None:
    runs: list[int] = []
    timer = Periodic("test-timer", 3600, lambda: runs.append(1)).start()
    try:
        wait_until(lambda: len(runs) == 1, 5, "the run at start")
    finally:
        timer.stop()


def test_a_failing_run_does_not_stop_the_next_ones() -> None:
    runs: list[int] = []

    def step() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("the store is away")

    timer = Periodic("test-timer", 0.01, step).start()
    try:
        wait_until(lambda: len(runs) >= 3, 5, "runs after a failure")
    finally:
        timer.stop()
