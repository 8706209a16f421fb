"""The processing trail: a record of every opening of subjects' personal data (UU PDP Pasal
31, the subject's access to "rekam jejak pemrosesan", Pasal 32(1)).

One record per request (a page of 500 contacts is one record): who (actor and role), for
what (purpose), through what (operation: a route template or a CLI command), which subjects
and which fields. Ids and codes only, never a value or a blind index, so a record outlives
the subject's erasure intact. Records are events like any other: hash-chained in the ledger,
checkpointed, relayed to Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.base import TenantAggregate


class AccessRecord(TenantAggregate):
    """One disclosure: whose data was opened, which fields, for what, by whom."""

    class Recorded(TenantAggregate.Created):
        role: str
        purpose: str
        operation: str
        fields: list[str]
        subject_ids: list[str]
        request_id: str | None

    def __init__(
        self,
        tenant_id: str,
        actor: str,
        role: str,
        purpose: str,
        operation: str,
        fields: list[str],
        subject_ids: list[str],
        request_id: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.purpose = purpose
        self.subject_ids = subject_ids

    @classmethod
    def record(
        cls,
        *,
        tenant_id: str,
        actor: str,
        role: str,
        purpose: str,
        operation: str,
        fields: Sequence[str],
        subject_ids: Sequence[UUID],
        request_id: str | None,
    ) -> AccessRecord:
        return cls._create(
            cls.Recorded,
            tenant_id=tenant_id,
            actor=actor,
            role=role,
            purpose=purpose,
            operation=operation,
            fields=sorted(set(fields)),
            subject_ids=sorted({str(s) for s in subject_ids}),
            request_id=request_id,
        )
