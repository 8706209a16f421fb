"""How the API's routes run their endpoints: one hop to the thread pool per request.

Endpoints are plain functions (they wait on the database). FastAPI runs such a function on
the thread pool and then, because it is not a coroutine, validates its answer in a second
hop to the pool. A hop costs the event loop more CPU than checking an answer that is
already a model (about 110 µs against a few), and every read pays it. So each endpoint is
wrapped as a coroutine that runs the function on a worker thread (:func:`api.threads.on_thread`,
a cheaper hop than FastAPI's, with the same context and cancellation rules), and FastAPI
validates the answer on the loop. The signature FastAPI reads (parameters,
dependencies, the answer's type) is the function's own, through ``__wrapped__``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute

from api.threads import on_thread


class OneHopRoute(APIRoute):
    """An :class:`APIRoute` whose blocking endpoint runs in one hop to the thread pool."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, on_the_pool(endpoint), **kwargs)


def on_the_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as a coroutine that runs it on the thread pool; a coroutine as it is."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await on_thread(endpoint, *args, **kwargs)

    return run
