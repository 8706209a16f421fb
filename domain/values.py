"""Normalisation and validation of personal values, shared by every aggregate that holds them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from domain.errors import InvalidField, MinorNotAllowed

MINIMUM_AGE = 13
MAXIMUM_AGE = 150
# UU PDP Pasal 25: a child is anyone under 18, whose consent a parent or guardian gives.
AGE_OF_MAJORITY = 18
_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
_PHONE_NOISE = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_CODE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def normalise_email(value: str, field: str = "email") -> str:
    """Lower-case and trim; reject what cannot be an address (RFC 5321 lengths)."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidField(field, "must be a valid email address")
    return email


def normalise_phone(value: str, field: str = "phone") -> str:
    """Return E.164. Indonesian national numbers (0812...) become +62812...."""
    phone = _PHONE_NOISE.sub("", value.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = "+62" + phone[1:]
    elif phone.startswith("62"):
        phone = "+" + phone
    if not _E164.match(phone):
        raise InvalidField(field, "must be a phone number in international (E.164) form")
    return phone


def clean_text(value: str, field: str, *, max_length: int, required: bool = False) -> str:
    """Trim; reject empty required text, over-long text and control characters."""
    text = value.strip()
    if required and not text:
        raise InvalidField(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidField(field, f"must be at most {max_length} characters")
    if any(ord(ch) < 32 for ch in text):
        raise InvalidField(field, "must not contain control characters")
    return text


def check_age(value: int, field: str = "age") -> int:
    """Ages are whole years; under 13 is refused by the policy, not just invalid."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(field, "must be a whole number")
    if value < 0 or value > MAXIMUM_AGE:
        raise InvalidField(field, f"must be between 0 and {MAXIMUM_AGE}")
    if value < MINIMUM_AGE:
        raise MinorNotAllowed(field)
    return value


def check_code(value: str, field: str) -> str:
    """A machine code (``page_view``, ``web_form``): lower-case, short, safe to keep in clear."""
    if not _CODE.match(value):
        raise InvalidField(
            field, "must be a code: a-z first, then a-z, 0-9, '_', '.', '-' (at most 64)"
        )
    return value


def parse_time(value: str, field: str) -> datetime:
    """An RFC 3339 time with an offset, as UTC. A time without an offset is ambiguous."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidField(field, "must be an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise InvalidField(field, "must carry a UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise InvalidField(field, "is out of range") from None


def utc_text(moment: datetime) -> str:
    """One fixed text form for times kept in events and read models: sorts as it compares."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
