"""Every endpoint runs in one hop to a worker thread, off the event loop (api.routing), and
that hop (api.threads) behaves as anyio's does: context copied, cancellation deferred."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import re
import threading
import time
from collections.abc import Iterator

import anyio.to_thread
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.routing import Match

from api import threads
from api.routes import routers
from api.routing import OneHopRoute
from api.threads import on_thread


class Answer(BaseModel):
    thread: int
    loop_thread: int


async def loop_thread() -> int:
    return threading.get_ident()


def tiny_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.get("/answer", response_model=Answer)
    def answer(loop: int = Depends(loop_thread)) -> Answer:
        return Answer(thread=threading.get_ident(), loop_thread=loop)

    app = FastAPI()
    app.include_router(router)
    return app


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every call handed to a worker thread while the test runs: anyio's (FastAPI's own
    hops) and the API's (api.threads)."""
    handed: list[object] = []
    run_sync = anyio.to_thread.run_sync
    submit = threads._pool.submit

    async def counting(func: object, *args: object, **kwargs: object) -> object:
        handed.append(func)
        return await run_sync(func, *args, **kwargs)  # type: ignore[arg-type]

    def submitting(func: object, *args: object, **kwargs: object) -> object:
        handed.append(func)
        return submit(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    monkeypatch.setattr(threads._pool, "submit", submitting)
    yield handed


@pytest.mark.parametrize(("route_class", "expected_hops"), [(OneHopRoute, 1), (APIRoute, 2)])
def test_a_blocking_endpoint_costs_one_hop_to_the_pool_and_still_runs_off_the_loop(
    hops: list[object], route_class: type[APIRoute], expected_hops: int
) -> None:
    with TestClient(tiny_app(route_class)) as client:
        hops.clear()
        body = client.get("/answer").json()

    assert len(hops) == expected_hops  # FastAPI alone validates the answer in a second hop
    assert body["thread"] != body["loop_thread"]


def test_every_route_of_the_api_runs_its_endpoint_in_one_hop() -> None:
    routes = [route for router in routers() for route in router.routes]

    plain = [route.path for route in routes if not isinstance(route, OneHopRoute)]

    assert routes
    assert plain == []
    assert all(inspect.iscoroutinefunction(route.endpoint) for route in routes)  # type: ignore[attr-defined]


def test_no_route_of_one_router_matches_a_path_of_another_so_their_order_is_free() -> None:
    routes = [
        (index, route)
        for index, router in enumerate(routers())
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    claimed = []
    for index, route in routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        for other_index, other in routes:
            scope = {"type": "http", "path": path, "method": next(iter(route.methods))}
            if other_index != index and other.matches(scope)[0] == Match.FULL:
                claimed.append((route.path, other.path))

    assert routes
    assert claimed == []


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def test_a_hop_runs_off_the_loop_with_the_callers_context_and_returns_its_result() -> None:
    def seen(suffix: str) -> tuple[int, str]:
        return threading.get_ident(), REQUEST_ID.get() + suffix

    async def call() -> tuple[int, tuple[int, str]]:
        REQUEST_ID.set("r-1")
        return threading.get_ident(), await on_thread(seen, suffix="!")

    loop_thread, (thread, value) = asyncio.run(call())

    assert thread != loop_thread
    assert value == "r-1!"


def test_a_hop_raises_the_functions_own_exception() -> None:
    def fails() -> None:
        raise LookupError("no such token")

    with pytest.raises(LookupError, match="no such token"):
        asyncio.run(on_thread(fails))


def test_a_task_cancelled_during_a_hop_gets_the_result_first_and_the_cancellation_next() -> None:
    """What the thread did (a claim taken, a command committed) is never left unseen: the
    caller's next line runs, and the cancellation lands at its next ``await``."""
    started = threading.Event()
    steps: list[str] = []

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        steps.append("thread finished")
        return "committed"

    async def caller() -> None:
        result = await on_thread(slow)
        steps.append(f"caller saw {result}")
        await asyncio.sleep(0)
        steps.append("not reached")

    async def main() -> None:
        task = asyncio.create_task(caller())
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert steps == ["thread finished", "caller saw committed"]
