"""What every tenant-scoped aggregate shares: each of its events names the tenant, the actor
and the data subject it is about.

The fields were always there, declared event by event; declaring them once here changes no
topic and no stored field (nothing to upcast), and lets the code that reads events (the audit
timeline, tenant scoping, the subject's export) ask an event what it is about instead of
probing its attributes. The tenant's own aggregate is the exception: it *is* the tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate


class TenantAggregate(Aggregate):
    """An aggregate that belongs to one tenant."""

    if TYPE_CHECKING:  # set by each aggregate's __init__ from its created event
        tenant_id: str

    class Event(Aggregate.Event):
        tenant_id: str
        actor: str

        def subject(self) -> UUID:
            """The data subject this event is about: by default its own aggregate (a
            contact, a user, a policy)."""
            return self.originator_id

    class Created(Event, Aggregate.Created):
        pass


class ContactMatter(TenantAggregate):
    """An aggregate about one contact, kept apart from the contact's own stream (a consent
    record, an activity, a linked account, a share, a request); its values, when it holds
    any, are sealed under the contact's key."""

    if TYPE_CHECKING:
        contact_id: UUID

    class Event(TenantAggregate.Event):
        contact_id: str

        def subject(self) -> UUID:
            return UUID(self.contact_id)

    class Created(Event, TenantAggregate.Created):
        pass
