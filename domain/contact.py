"""The contact: a data subject in a tenant's CRM, whose personal fields are always sealed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as AggregateSnapshot

from domain.base import TenantAggregate
from domain.errors import ErasurePending, InvalidField, SubjectErased, VersionMismatch
from domain.sealing import PersonalValue, Sealer, seal_fields
from domain.values import check_age, clean_text, normalise_email, normalise_phone

MAX_GRACE_PERIOD = timedelta(hours=72)  # UU PDP: requests are answered within 3x24 hours
PERSONAL_FIELDS = ("full_name", "email", "phone", "company", "job_title", "age")
_TEXT_LIMITS = {"full_name": 200, "company": 200, "job_title": 200}


def _validate_value(field: str, value: object) -> PersonalValue:
    if field == "age":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(field, "must be a whole number")
        return check_age(value, field)
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if field == "email":
        return normalise_email(value, field)
    if field == "phone":
        return normalise_phone(value, field)
    return clean_text(value, field, max_length=_TEXT_LIMITS[field], required=field == "full_name")


def validate_details(details: Mapping[str, object]) -> dict[str, PersonalValue]:
    """Validate a new contact's fields: a name is required, absent fields stay absent."""
    unknown = set(details) - set(PERSONAL_FIELDS)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "is not a contact field")
    if details.get("full_name") is None:
        raise InvalidField("full_name", "is required")
    return {f: _validate_value(f, v) for f, v in details.items() if v is not None}


def validate_changes(changes: Mapping[str, object]) -> tuple[dict[str, PersonalValue], set[str]]:
    """Validate a partial update: a value replaces the field, ``None`` clears it."""
    unknown = set(changes) - set(PERSONAL_FIELDS)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "is not a contact field")
    if not changes:
        raise InvalidField("body", "must change at least one field")
    cleared = {f for f, v in changes.items() if v is None}
    if "full_name" in cleared:
        raise InvalidField("full_name", "cannot be cleared")
    values = {f: _validate_value(f, v) for f, v in changes.items() if v is not None}
    return values, cleared


class Contact(TenantAggregate):
    """A CRM contact. State holds, per field, the sealed token and the version that sealed it."""

    class Registered(TenantAggregate.Created):
        sealed: dict[str, str]

    class Updated(TenantAggregate.Event):
        sealed: dict[str, str]
        cleared: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Contact)
            for field in self.cleared:
                aggregate.fields.pop(field, None)
            for field, token in self.sealed.items():
                aggregate.fields[field] = (self.originator_version, token)

    class Erased(TenantAggregate.Event):
        """The subject's key was destroyed: what was sealed under it is gone everywhere."""

        erasure_id: str
        key_id: str
        destroyed_at: str
        reason: str
        request_id: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Contact)
            aggregate.erased = True
            aggregate.erasure_id = self.erasure_id
            aggregate.fields = {}

    class ErasureScheduled(TenantAggregate.Event):
        """Erasure will run at ``due_at`` unless cancelled first (a grace period)."""

        erasure_id: str
        due_at: str
        reason: str
        request_id: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Contact)
            aggregate.scheduled_erasure = self.erasure_id

    class ErasureCancelled(TenantAggregate.Event):
        erasure_id: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Contact)
            aggregate.scheduled_erasure = None

    class Snapshot(AggregateSnapshot):
        """The contact at one version, as the library stores it: sealed tokens only, each
        with the version of the event that sealed it (what its associated data names).
        Changing the contact's attributes needs the library's ``class_version`` and an
        upcast, or snapshots taken before the change rebuild the old shape."""

        def mutate(self, _: None) -> Contact:
            """The snapshotted contact; JSON keeps each (version, token) pair as a list, so
            the pairs are made tuples again, as the events' own ``apply`` leaves them."""
            contact = super().mutate(_)
            assert isinstance(contact, Contact)
            contact.fields = {f: (int(v), str(t)) for f, (v, t) in contact.fields.items()}
            return contact

    def __init__(self, tenant_id: str, actor: str, sealed: dict[str, str]) -> None:
        self.tenant_id = tenant_id
        self.created_by = actor
        self.fields: dict[str, tuple[int, str]] = {f: (1, t) for f, t in sealed.items()}
        self.erased = False
        self.scheduled_erasure: str | None = None
        self.erasure_id: str | None = None

    @classmethod
    def register(
        cls,
        *,
        tenant_id: UUID,
        actor: str,
        details: Mapping[str, object],
        sealer: Sealer,
        contact_id: UUID | None = None,
    ) -> Contact:
        """Validate and seal a new contact's details; the contact is its own data subject."""
        values = validate_details(details)
        contact_id = contact_id or uuid4()
        sealed = seal_fields(sealer, tenant_id, contact_id, 1, values)
        return cls._create(
            cls.Registered, id=contact_id, tenant_id=str(tenant_id), actor=actor, sealed=sealed
        )

    def update(
        self,
        *,
        actor: str,
        changes: Mapping[str, object],
        sealer: Sealer,
        expected_version: int | None = None,
    ) -> None:
        """Replace or clear fields; ``expected_version`` guards against lost updates."""
        self._require_live()
        if expected_version is not None and expected_version != self.version:
            raise VersionMismatch(expected_version, self.version)
        values, cleared = validate_changes(changes)
        sealed = seal_fields(sealer, UUID(self.tenant_id), self.id, self.version + 1, values)
        self.trigger_event(
            self.Updated,
            tenant_id=self.tenant_id,
            actor=actor,
            sealed=sealed,
            cleared=sorted(cleared),
        )

    def schedule_erasure(
        self,
        *,
        actor: str,
        erasure_id: UUID,
        due_at: datetime,
        now: datetime,
        reason: str,
        request_id: str | None,
    ) -> None:
        """Erase later, within the law's 72 hours; one pending erasure at a time."""
        self._require_live()
        if self.scheduled_erasure is not None:
            raise ErasurePending("an erasure is already scheduled for this contact")
        if not now < due_at <= now + MAX_GRACE_PERIOD:
            raise InvalidField("grace_period_hours", "must be more than 0 and at most 72 hours")
        self.trigger_event(
            self.ErasureScheduled,
            tenant_id=self.tenant_id,
            actor=actor,
            erasure_id=str(erasure_id),
            due_at=due_at.isoformat(),
            reason=clean_text(reason, "reason", max_length=500, required=True),
            request_id=request_id,
        )

    def cancel_erasure(self, *, actor: str, erasure_id: str) -> None:
        self._require_live()
        if self.scheduled_erasure != erasure_id:
            raise ErasurePending("that erasure is not pending for this contact")
        self.trigger_event(
            self.ErasureCancelled, tenant_id=self.tenant_id, actor=actor, erasure_id=erasure_id
        )

    def record_erasure(
        self,
        *,
        actor: str,
        erasure_id: UUID,
        key_id: str,
        destroyed_at: str,
        reason: str,
        request_id: str | None,
    ) -> None:
        """Record that the subject's key was destroyed. Erasing twice is refused."""
        self._require_live()
        reason = clean_text(reason, "reason", max_length=500, required=True)
        self.trigger_event(
            self.Erased,
            tenant_id=self.tenant_id,
            actor=actor,
            erasure_id=str(erasure_id),
            key_id=key_id,
            destroyed_at=destroyed_at,
            reason=reason,
            request_id=request_id,
        )

    @staticmethod
    def erasure_reason(reason: str) -> str:
        """The reason an erasure is recorded with, checked before any key is destroyed."""
        return clean_text(reason, "reason", max_length=500, required=True)

    @staticmethod
    def erasure_recorded(
        *,
        contact_id: UUID,
        tenant_id: str,
        last_version: int,
        already_erased: bool,
        actor: str,
        erasure_id: UUID,
        key_id: str,
        destroyed_at: str,
        reason: str,
        request_id: str | None,
    ) -> Contact.Erased:
        """The erasure event, built from the contact's head alone (version, erased flag), so
        that erasing costs the same for a contact with ten events or ten thousand."""
        if already_erased:
            raise SubjectErased("the contact was erased")
        return Contact.Erased(  # type: ignore[call-arg]
            originator_id=contact_id,
            originator_version=last_version + 1,
            timestamp=Contact.Erased.create_timestamp(),
            tenant_id=tenant_id,
            actor=actor,
            erasure_id=str(erasure_id),
            key_id=key_id,
            destroyed_at=destroyed_at,
            reason=Contact.erasure_reason(reason),
            request_id=request_id,
        )

    def _require_live(self) -> None:
        if self.erased:
            raise SubjectErased("the contact was erased")
