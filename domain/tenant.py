"""The tenant: one business using the CRM. Every other aggregate belongs to exactly one."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from domain.values import clean_text


class Tenant(Aggregate):
    """A tenant. Its name is the business's name, not a person's, so it is not sealed."""

    class Created(Aggregate.Created):
        name: str
        actor: str

    def __init__(self, name: str, actor: str) -> None:
        self.name = name
        self.created_by = actor

    @classmethod
    def create(cls, *, name: str, actor: str, tenant_id: UUID | None = None) -> Tenant:
        return cls._create(
            cls.Created,
            id=tenant_id or uuid4(),
            name=clean_text(name, "name", max_length=200, required=True),
            actor=actor,
        )


def first_admin_id(tenant_id: UUID) -> UUID:
    """The id of a tenant's first admin, fixed by the tenant's: a re-run of the creation
    finds the same admin rather than making a second one."""
    return uuid5(NAMESPACE_URL, f"crm:first-admin:{tenant_id}")
