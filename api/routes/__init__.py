"""The API's resources, one module each; every module here that declares a ``router`` is
served. Adding a resource is adding its module: there is no list to keep in step."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Each route module's router, in module-name order."""
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        router = getattr(importlib.import_module(f"{__name__}.{module}"), "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found
