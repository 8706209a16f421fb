"""Service data: what a subject did while using the service (messages, visits, logins).

Each activity is its own small aggregate, recorded once and never changed, so a busy
subject's history never has to be loaded whole. The kind and the time are kept in clear
(they are what usage statistics count); everything that describes the person or their
device (IP address, user agent, device, location, referrer, free detail) is sealed with
the subject's key, like any personal field (obligation 1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from domain.base import ContactMatter
from domain.errors import InvalidField
from domain.sealing import PersonalValue, Sealer, seal_event_fields
from domain.values import check_code, clean_text, utc_text

SEALED_FIELDS = ("ip", "user_agent", "device", "location", "referrer", "detail")
_TEXT_LIMITS = {"user_agent": 500, "device": 200, "location": 200, "referrer": 2000, "detail": 2000}
CLOCK_SKEW = timedelta(minutes=5)


def _validate(field: str, value: object) -> PersonalValue:
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if field == "ip":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise InvalidField("ip", "must be an IPv4 or IPv6 address") from None
    return clean_text(value, field, max_length=_TEXT_LIMITS[field], required=True)


def validate_details(details: Mapping[str, object]) -> dict[str, PersonalValue]:
    """The sealed fields present; an unknown field is refused, ``None`` means absent."""
    unknown = set(details) - set(SEALED_FIELDS)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "is not an activity field")
    return {f: _validate(f, v) for f, v in details.items() if v is not None}


class Activity(ContactMatter):
    """One usage event of one subject."""

    class Recorded(ContactMatter.Created):
        kind: str
        occurred_at: str
        sealed: dict[str, str]

    def __init__(
        self,
        tenant_id: str,
        actor: str,
        contact_id: str,
        kind: str,
        occurred_at: str,
        sealed: dict[str, str],
    ) -> None:
        self.tenant_id = tenant_id
        self.contact_id = UUID(contact_id)
        self.kind = kind
        self.occurred_at = datetime.fromisoformat(occurred_at)
        self.sealed = sealed

    @classmethod
    def record(
        cls,
        *,
        tenant_id: UUID,
        contact_id: UUID,
        actor: str,
        kind: str,
        occurred_at: datetime | None,
        details: Mapping[str, object],
        sealer: Sealer,
        now: datetime,
        activity_id: UUID | None = None,
    ) -> Activity:
        """Record an activity that already happened (``occurred_at`` defaults to ``now``)."""
        kind = check_code(kind, "kind")
        occurred = now if occurred_at is None else occurred_at
        if occurred > now + CLOCK_SKEW:
            raise InvalidField("occurred_at", "must not be in the future")
        values = validate_details(details)
        activity_id = activity_id or uuid4()
        return cls._create(
            cls.Recorded,
            id=activity_id,
            tenant_id=str(tenant_id),
            actor=actor,
            contact_id=str(contact_id),
            kind=kind,
            occurred_at=utc_text(occurred),
            sealed=seal_event_fields(sealer, tenant_id, contact_id, activity_id, 1, values),
        )
