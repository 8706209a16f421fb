"""What a valid id looks like, declared once for bodies, query strings and paths.

An id has one spelling: lower-case hex with hyphens, as the API issues it. uuid.UUID() also
reads braces, ``urn:uuid:``, no hyphens and upper case; accepting those would give one
resource several URLs, and idempotency fingerprints and caches key on the URL.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import Field

CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_CANONICAL_UUID = re.compile(CANONICAL_UUID)


def is_canonical_uuid(text: str) -> bool:
    """One spelling per id: lower-case hex with hyphens, so one URL names one resource."""
    return _CANONICAL_UUID.fullmatch(text) is not None


Id = Annotated[
    str,
    Field(
        pattern=CANONICAL_UUID,
        description="a UUID, lower-case with hyphens",
        json_schema_extra={"format": "uuid"},
    ),
]
PathId = Annotated[
    str,
    Path(
        description="a UUID, lower-case with hyphens; any other spelling names nothing (404)",
        json_schema_extra={"format": "uuid", "pattern": CANONICAL_UUID},
    ),
]
