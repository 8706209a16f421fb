"""The contact card as vCard 4.0 (RFC 6350), for the subject's portability package.

Written here rather than with a library: vobject (0.9.9, the latest release) folds a line
only once it is 75 *characters* long, so a shorter line of multi-byte text (any name with
non-ASCII letters) goes out unfolded past 75 octets, against RFC 6350 section 3.2; and it
would bring pytz, six and dateutil into the service for a handful of properties. What is written
here is small: escaping (section 3.4) and folding at 75 octets (section 3.2). The tests
read the cards back with vobject, a parser the project did not write.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

CRLF = "\r\n"
MAX_LINE_OCTETS = 75
_PROPERTIES = (("email", "EMAIL"), ("phone", "TEL"), ("company", "ORG"), ("job_title", "TITLE"))


def escape_text(value: str) -> str:
    """A TEXT value escaped (section 3.4): backslash, comma, semicolon, and any line break as
    ``\\n``, so a value's own separators never read as the card's."""
    value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded to at most 75 octets a physical line, never inside a UTF-8
    sequence (section 3.2); each continuation starts with one space, which unfolding drops."""
    lines: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode())
        if size + width > MAX_LINE_OCTETS:
            lines.append("".join(current))
            current, size = [" "], 1
        current.append(char)
        size += width
    lines.append("".join(current))
    return CRLF.join(lines)


def _timestamp(text: str) -> str:
    """An ISO 8601 time with its offset as a UTC vCard timestamp (``20260101T093000Z``)."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def contact_vcard(contact: Mapping[str, Any]) -> str:
    """The card of one contact as the subject export shows it (``id``, ``updated_at`` and
    the personal fields); absent fields are left out, FN is always there.

    The CRM keeps one ``full_name``, not its parts, and many Indonesian names have no family
    name, so N carries the whole name as its given names instead of a guessed split. TEL is
    free text, which RFC 6350 allows for compatibility and every importer reads. ``age`` has
    no vCard property (BDAY is a date, which the CRM does not hold): it is in the JSON and
    CSV parts only."""
    name = escape_text(str(contact["full_name"]))
    properties = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        "KIND:individual",
        f"UID:urn:uuid:{contact['id']}",
        f"FN:{name}",
        f"N:;{name};;;",
    ]
    for field, prop in _PROPERTIES:
        if contact.get(field):
            properties.append(f"{prop}:{escape_text(str(contact[field]))}")
    if contact.get("updated_at"):
        properties.append(f"REV:{_timestamp(str(contact['updated_at']))}")
    properties.append("END:VCARD")
    return "".join(fold(line) + CRLF for line in properties)
