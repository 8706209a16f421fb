"""The API's follower on PostgreSQL wakes for what it must catch up, and only for that.

Its commits that applied every projection in their own transaction notify the channel like
any other; catching up after them would read the tracking rows and the log for nothing.
The follower lets them pass, and wakes for another process's commit, or for one of its own
that left a projection behind (a tracking row not at the log's head before the write).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from projections.follow import NotifyWaiter
from service.bootstrap import Service, bootstrap
from service.settings import Settings

TIMEOUT = 2.0  # the waiter's interval: sleeping through means waiting all of it


@pytest.fixture
def deployment(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Service]]:
    settings = make_settings("postgres")
    with bootstrap(settings) as service:
        service.tenants.create("Toko Follower")  # the log's first events
        service.catch_up()
        yield settings, service


def _seconds_asleep(waiter: NotifyWaiter, commit: Callable[[], object]) -> float:
    """How long ``waiter.wait(TIMEOUT)`` lasts when ``commit`` happens while it waits."""
    waiter.wait(0.01)  # listening, and what came before drained
    elapsed: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        waiter.wait(TIMEOUT)
        elapsed.append(time.monotonic() - started)

    sleeper = threading.Thread(target=wait)
    sleeper.start()
    commit()
    sleeper.join(TIMEOUT * 3)
    return elapsed[0]


@pytest.fixture
def waiter(deployment: tuple[Settings, Service]) -> Iterator[NotifyWaiter]:
    """The follower's waiter as ``crm serve`` makes it, told this process's commits."""
    settings, service = deployment
    recorder = service.crm.recorder
    here = getattr(recorder, "projected_here", None)
    assert here is not None
    here.behind.clear()  # the deployment's first commit left every projection behind
    notify = NotifyWaiter(
        settings.database_url, recorder.channel_name, threading.Event(), projected_here=here
    )
    yield notify
    notify.close()


def test_a_commit_that_projected_itself_wakes_no_one(
    deployment: tuple[Settings, Service], waiter: NotifyWaiter
) -> None:
    _, service = deployment
    asleep = _seconds_asleep(waiter, lambda: service.tenants.create("Toko Satu"))
    assert asleep >= TIMEOUT * 0.9


def test_another_process_commit_wakes_the_follower(
    deployment: tuple[Settings, Service], waiter: NotifyWaiter
) -> None:
    settings, _ = deployment
    with bootstrap(settings) as other:  # its own pool: other server processes
        other.tenants.create("Toko Dua")  # connections opened before the wait
        asleep = _seconds_asleep(waiter, lambda: other.tenants.create("Toko Tiga"))
    assert asleep < TIMEOUT * 0.5


def test_a_commit_that_left_a_projection_behind_wakes_the_follower(
    deployment: tuple[Settings, Service], waiter: NotifyWaiter
) -> None:
    settings, service = deployment
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE projection_tracking SET notification_id = notification_id - 1"
            " WHERE application_name = 'audit_timeline'"
        )
    asleep = _seconds_asleep(waiter, lambda: service.tenants.create("Toko Empat"))
    assert asleep < TIMEOUT * 0.5


def test_another_process_commit_behind_one_of_its_own_still_wakes_the_follower(
    deployment: tuple[Settings, Service], waiter: NotifyWaiter
) -> None:
    settings, service = deployment
    with bootstrap(settings) as other:
        other.tenants.create("Toko Lima")
        waiter.wait(0.01)  # listening, and what came before drained
        service.tenants.create("Toko Enam")  # both notifications wait in one read
        other.tenants.create("Toko Tujuh")
        started = time.monotonic()
        waiter.wait(TIMEOUT)
    assert time.monotonic() - started < TIMEOUT * 0.5
