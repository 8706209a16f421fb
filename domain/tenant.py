"""The tenant: one business using the CRM. Every other aggregate belongs to exactly one."""

from __future__ import annotations

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
    def create(cls, *, name: str, actor: str) -> Tenant:
        return cls._create(
            cls.Created, name=clean_text(name, "name", max_length=200, required=True), actor=actor
        )
