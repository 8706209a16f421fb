"""What a valid input value looks like, declared once for bodies, query strings and paths.

The OpenAPI document is generated from these declarations, so it says exactly what the API
accepts (schemathesis checks it both ways: valid input is not refused, invalid input is).
Two kinds of declaration:

- Patterns and lengths are enforced here, at the edge, by pydantic, which reads a pattern as
  JSON Schema does (``$`` is the end of the text, not "before a final newline").
- Enums and age bounds (here), ``minProperties`` and the rules across fields (on the body
  models) are only declared: the domain enforces them exactly and answers with a problem
  that names the field and the rule (``minor-not-allowed``, ``invalid-field``), which a
  generic validation error would lose.

Values come from the domain (roles, providers, request kinds, the purpose catalogue, contact
fields); text lengths repeat the domain's limits, and the positive-data check catches a
declaration looser than the rule behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, Field

from domain.values import MAXIMUM_AGE, MINIMUM_AGE

CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_CANONICAL_UUID = re.compile(CANONICAL_UUID)

# What str.strip() removes beyond control characters: a value made only of these is empty.
_SPACES = r"\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
VISIBLE_TEXT = rf"^[^\x00-\x1f]*[^\x00-\x1f{_SPACES}][^\x00-\x1f]*$"
PLAIN_TEXT = r"^[^\x00-\x1f]*$"
CODE = r"^[a-z][a-z0-9_.-]{0,63}$"
# E.164 (+62812...), international with 00, Indonesian national (0812...) or 62812...,
# with spaces, dots, hyphens and parentheses anywhere, as domain.values.normalise_phone reads it.
_NOISE = r"[ ().-]*"
PHONE = (
    rf"^{_NOISE}(?:\+{_NOISE}[1-9](?:{_NOISE}[0-9]){{7,14}}"
    rf"|0{_NOISE}0{_NOISE}[1-9](?:{_NOISE}[0-9]){{7,14}}"
    rf"|0{_NOISE}[1-9](?:{_NOISE}[0-9]){{5,12}}"
    rf"|6{_NOISE}2(?:{_NOISE}[0-9]){{6,13}}){_NOISE}$"
)
# RFC 3339 with its offset required; years 1000-9998, so no offset pushes a time off the calendar.
_YEAR = r"(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
RFC3339 = (
    rf"^{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
# Unpadded base64url: a length of 1 modulo 4 is never an encoding.
BASE64URL = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
MAX_CURSOR = 200


def one_of(values: Iterable[str] | type[StrEnum]) -> dict[str, Any]:
    """The JSON Schema enum of ``values`` (for ``json_schema_extra``): the domain checks it."""
    return {"enum": [str(value) for value in values]}


def whole_number(value: object) -> object:
    """JSON has one kind of number, and JSON Schema counts ``44.0`` as the integer 44: so does
    the API, where strict validation would refuse it. ``44.5`` is still refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
Email = Annotated[
    str,
    Field(
        max_length=254,
        description="an email address; stored lower-case",
        json_schema_extra={"format": "email"},
    ),
]
Phone = Annotated[
    str,
    Field(
        max_length=64,
        pattern=PHONE,
        description="a phone number, international or Indonesian national; stored as E.164",
    ),
]
Age = Annotated[
    int,
    BeforeValidator(whole_number),
    Field(
        description=f"whole years; under {MINIMUM_AGE} is refused (minor-not-allowed)",
        json_schema_extra={"minimum": MINIMUM_AGE, "maximum": MAXIMUM_AGE},
    ),
]
Time = Annotated[
    str,
    Field(
        pattern=RFC3339,
        description="an RFC 3339 time with its UTC offset",
        json_schema_extra={"format": "date-time"},
    ),
]
Code = Annotated[str, Field(pattern=CODE, description="a machine code, kept in clear")]
IpAddress = Annotated[
    str,
    Field(max_length=64, json_schema_extra={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
]
