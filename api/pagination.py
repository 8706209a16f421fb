"""Cursor pagination shared by every list endpoint: ``?limit=`` (1..500) and ``?cursor=``.

A cursor is the opaque, URL-safe encoding of the sort key of the last item served; the next
page asks for keys strictly after it, so inserts never shift or repeat items.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Query

from api.fields import BASE64URL, MAX_CURSOR
from api.problems import ProblemError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size, at most 500")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR,
        pattern=BASE64URL,
        description="next_cursor of the last page: unpadded base64url, opaque; one the API"
        " did not issue is a 422 (invalid-cursor)",
    ),
]


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The sort key inside a cursor; a cursor that was not issued by us is a 422."""
    if not cursor:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = None
    # Keys we issue are printable ASCII; anything else (a NUL byte, say) must not reach SQL.
    if key is None or not key.isascii() or not key.isprintable():
        raise ProblemError(422, "invalid-cursor", "Invalid cursor", "the cursor is not valid")
    return key


def next_cursor(keys: list[str], limit: int) -> str | None:
    """Given the keys of up to ``limit + 1`` rows fetched, the cursor for the following page."""
    return encode_cursor(keys[limit - 1]) if len(keys) > limit else None


def after_position(cursor: str | None) -> int:
    """For lists in log order: the position inside a cursor (0 for the first page)."""
    key = decode_cursor(cursor)
    if key is None:
        return 0
    if not key.isdigit():
        raise ProblemError(422, "invalid-cursor", "Invalid cursor", "the cursor is not valid")
    return int(key)


def position_cursor(rows: list[dict[str, Any]], limit: int) -> str | None:
    """The cursor after a page of rows fetched in position order (``limit + 1`` of them)."""
    return next_cursor([str(row["position"]) for row in rows], limit)
