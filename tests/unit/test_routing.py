"""Every endpoint runs in one hop to the thread pool, off the event loop (api.routing)."""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Iterator

import anyio.to_thread
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.routing import Match

from api.routes import routers
from api.routing import OneHopRoute


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
    """Every call handed to the thread pool while the test runs."""
    handed: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: object, *args: object, **kwargs: object) -> object:
        handed.append(func)
        return await run_sync(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
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
