"""Versions on the wire: ``ETag: "<version>"`` out, ``If-Match`` in (API.md conventions).

Every route that returns one resource sets its ETag here; every write that takes
``If-Match`` parses it here, so all resources follow one rule.
"""

from __future__ import annotations

from fastapi import Response

from api.problems import ProblemError

IMMUTABLE_VERSION = 1  # documents that never change (certificates) are at version 1 for ever


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header requires, ``None`` when any version will do.

    ``*`` matches any current version. Anything that is not one of our version tags can
    never match, so it is a 412 (RFC 9110 section 13.1.1), not a 422.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ProblemError(
            412, "precondition-failed", "Precondition failed", "If-Match must be a version ETag"
        )
    return int(text)
