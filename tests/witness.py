"""A disclosure for tests of sealing itself: every opening allowed, each one remembered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from service.disclosure import AccessLog, named_purpose

if TYPE_CHECKING:
    from service.bootstrap import Service


class Witness:
    """Implements ``crypto.sealer.Disclosure``; what the service's AccessLog decides and
    records is tested elsewhere, against the real thing."""

    def __init__(self) -> None:
        self.seen: list[tuple[UUID, tuple[str, ...]]] = []

    def opening(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        return None

    def opened(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        self.seen.append((subject_id, tuple(fields)))


WITNESS = Witness()


def access_for(
    service: Service, tenant_id: UUID, purpose: str, actor: str = "agent", role: str = "agent"
) -> AccessLog:
    """An access log as a route would make it: the service's own gate, a named purpose."""
    return service.access_log(
        tenant_id=tenant_id,
        actor=actor,
        role=role,
        purpose=named_purpose(purpose),
        operation="test",
        request_id=None,
    )
