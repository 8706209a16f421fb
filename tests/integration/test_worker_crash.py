"""The projection worker survives SIGKILL at any point while events keep arriving.

``crm projections run`` runs as a real process on PostgreSQL, with tiny batches so kills
land mid-stream: between batches, inside a transaction, between projections. After the
last restart it catches up, and its read models must equal what a rebuild from scratch
(``crm projections rebuild``, also a real process) produces.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from service.bootstrap import Service, bootstrap
from service.settings import Settings
from tests.harness import process_env, wait_until
from tests.snapshots import snapshot, write_history

KILLS = 4


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", "projections", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def lowest_position(service: Service) -> int:
    return min(service.runner.positions().values())


def wait_for_progress(
    service: Service, worker: subprocess.Popen[bytes], events: int, context: str
) -> None:
    """Until the worker applied ``events`` more (or died): then it is in the middle of work."""
    target = lowest_position(service) + events
    wait_until(
        lambda: lowest_position(service) >= target or worker.poll() is not None,
        30,
        f"worker progress ({context})",
    )


def test_worker_killed_at_random_points_resumes_to_exactly_what_a_rebuild_produces(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    settings = make_settings("postgres", {"CRM_PROJECTIONS_INLINE": "false"})
    service = bootstrap(settings)
    env = process_env(settings, {"CRM_PROJECTION_BATCH_SIZE": "3", "CRM_POLL_INTERVAL": "0.05"})
    log = tmp_path / "worker.log"
    stop_writing = threading.Event()

    def write() -> None:
        while not stop_writing.is_set():
            write_history(service, random.Random(rng.random()), commands=5)

    writer = threading.Thread(target=write)
    writer.start()
    worker = start_worker(env, log)
    try:
        for _ in range(KILLS):
            wait_for_progress(service, worker, rng.randint(1, 12), f"seed {seed}, log {log}")
            assert worker.poll() is None, f"worker died: {log.read_text()[-2000:]}"
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = start_worker(env, log)
        stop_writing.set()
        writer.join()
        wait_until(
            lambda: lowest_position(service) == service.runner.head(),
            60,
            f"catch-up (seed {seed})",
        )
    finally:
        stop_writing.set()
        worker.terminate()
        worker.wait(10)
    assert worker.returncode == 0  # SIGTERM ends the loop cleanly
    # The last worker's storage record may have been committed after its last catch-up:
    # one more (real) catch-up applies it, and opens nothing, so it records nothing.
    caught_up = subprocess.run(
        [sys.executable, "-m", "api.cli", "projections", "catch-up"], env=env, check=False
    )
    assert caught_up.returncode == 0
    head = service.runner.head()
    live = snapshot(service.read_models, service.runner.projections)

    rebuilt = subprocess.run(
        [sys.executable, "-m", "api.cli", "projections", "rebuild"],
        env=env,
        capture_output=True,
        check=False,
    )

    assert rebuilt.returncode == 0, rebuilt.stderr.decode()[-2000:]
    assert b"100%" in rebuilt.stderr and b"swapped in" in rebuilt.stdout
    assert snapshot(service.read_models, service.runner.projections) == live, f"seed {seed}"
    assert len(live["audit_timeline"]) == head
    service.close()
