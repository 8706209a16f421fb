"""No purpose, no plaintext: the one decision point every opening of personal data passes,
and the record of what was opened (DESIGN invariant 12).

Every open path of the sealer takes a :class:`~crypto.sealer.Disclosure`; here are the two
kinds. An :class:`AccessLog` belongs to one request (or one CLI command): it carries the
purpose the opening is for, asks the :class:`ProcessingGate` before anything is unwrapped
(a refusal opens nothing), and collects which subjects and fields were opened, so the
request's one :class:`~domain.access.AccessRecord` can be committed before the values leave
the service. Openings that serve storage rather than a use (blind indexes, rebuilds) go through
:class:`~crypto.sealer.StorageOpenings`: not gated by consent or restriction, and recorded
once per run (:func:`storage_record`).

The gate's rules are one class each (consent here; restriction and objection plug in the
same way), asked for a whole list of subjects at once, so a page of 500 costs one query per
rule, not 500.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from crypto.sealer import StorageOpenings
from domain.access import AccessRecord
from domain.errors import ConsentRequired, ProcessingRefused
from domain.keys import PLATFORM
from domain.purposes import LEGAL, STORAGE, SUBJECT_REQUEST, Purpose
from domain.purposes import purpose as catalogue_purpose
from projections.consents import consenting_among
from projections.limits import EVERY_PURPOSE, OBJECTED, RESTRICTED, Limits, limits_of
from projections.store import ReadModelStore

log = logging.getLogger("crm.service")
NO_CONSENT = "no-consent"
# What a restriction or an objection never stops (Pasal 41(2) and the rights themselves):
# keeping the data, legal obligations, and answering the subject's own requests.
ALWAYS_ALLOWED = (STORAGE, LEGAL, SUBJECT_REQUEST)


class Rule(Protocol):
    """One reason processing for a purpose may be refused."""

    def refusals(
        self,
        tenant_id: UUID,
        subjects: Sequence[UUID],
        purpose: Purpose,
        known: Mapping[UUID, Limits] | None = None,
    ) -> dict[UUID, str]:
        """The subjects refused for ``purpose``, each with its reason code. ``known``: the
        processing limits of subjects already read with their rows (no query for those)."""
        ...


class ConsentRule:
    """A purpose that rests on consent needs the subject's current consent (Pasal 20, 40)."""

    def __init__(self, read_models: ReadModelStore) -> None:
        self.read_models = read_models

    def refusals(
        self,
        tenant_id: UUID,
        subjects: Sequence[UUID],
        purpose: Purpose,
        known: Mapping[UUID, Limits] | None = None,
    ) -> dict[UUID, str]:
        if not purpose.requires_consent or not subjects:
            return {}
        consenting = consenting_among(self.read_models, tenant_id, purpose.code, subjects)
        return {s: NO_CONSENT for s in subjects if s not in consenting}


class LimitRule:
    """Purposes the subject restricted (Pasal 11, 41) or objected to (Pasal 10), through a
    completed request, are refused for them; what :data:`ALWAYS_ALLOWED` names is not.
    ``kinds`` in the order their reasons win; all of them are read in one query."""

    def __init__(self, read_models: ReadModelStore, kinds: Sequence[str]) -> None:
        self.read_models = read_models
        self.kinds = tuple(kinds)  # RESTRICTED, OBJECTED: also the reason codes

    def refusals(
        self,
        tenant_id: UUID,
        subjects: Sequence[UUID],
        purpose: Purpose,
        known: Mapping[UUID, Limits] | None = None,
    ) -> dict[UUID, str]:
        if purpose.code in ALWAYS_ALLOWED or not subjects:
            return {}
        known = known or {}
        limited = {s: known[s] for s in subjects if known.get(s)}
        unknown = [s for s in subjects if s not in known]
        if unknown:
            limited.update(limits_of(self.read_models, tenant_id, unknown, self.kinds))
        refused = {}
        for subject, by_kind in limited.items():
            reason = next(
                (k for k in self.kinds if by_kind.get(k, set()) & {EVERY_PURPOSE, purpose.code}),
                None,
            )
            if reason is not None:
                refused[subject] = reason
        return refused


def limits_rule(read_models: ReadModelStore) -> LimitRule:
    """Restriction first, then objection: a subject who did both is told ``restricted``."""
    return LimitRule(read_models, (RESTRICTED, OBJECTED))


class ProcessingGate:
    """The decision point: a purpose with a legal basis in the catalogue, and no rule that
    refuses it for the subject."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)

    def refusals(
        self,
        tenant_id: UUID,
        subjects: Sequence[UUID],
        purpose: Purpose,
        known: Mapping[UUID, Limits] | None = None,
    ) -> dict[UUID, str]:
        refused: dict[UUID, str] = {}
        for rule in self.rules:
            open_ones = [s for s in subjects if s not in refused]
            refused.update(rule.refusals(tenant_id, open_ones, purpose, known))
        return refused


@dataclass
class AccessLog:
    """The openings of one request: decided, then collected for its one record."""

    gate: ProcessingGate
    tenant_id: UUID
    actor: str
    role: str
    purpose: Purpose
    operation: str
    request_id: str | None = None
    decisions: dict[tuple[str, UUID], str | None] = field(default_factory=dict)
    fields: dict[UUID, set[str]] = field(default_factory=dict)
    kept: dict[UUID, frozenset[str]] | None = None  # what a record committed already covers
    limits: dict[UUID, Limits] = field(default_factory=dict)  # read with the subjects' rows

    def know_limits(self, limits: Mapping[UUID, Limits]) -> None:
        """Processing limits read in the query that read the subjects' rows (the same
        statement, so as current as the rows): the decision for them needs no query."""
        self.limits.update(limits)

    def screen(self, subjects: Sequence[UUID]) -> dict[UUID, str]:
        """Decide for many subjects at once (a page); the refused ones with their reasons."""
        code = self.purpose.code
        undecided = [s for s in dict.fromkeys(subjects) if (code, s) not in self.decisions]
        if undecided:
            refused = self.gate.refusals(self.tenant_id, undecided, self.purpose, self.limits)
            self.decisions.update({(code, s): refused.get(s) for s in undecided})
        return {s: r for s in subjects if (r := self.decisions[(code, s)]) is not None}

    def require(self, subject_id: UUID) -> None:
        """Refuse (409) unless the subject's data may be processed for the purpose."""
        key = (self.purpose.code, subject_id)
        # Decided already (a page screens all its subjects first): no list to build.
        if key in self.decisions:
            reason = self.decisions[key]
        else:
            reason = self.screen([subject_id]).get(subject_id)
        if reason == NO_CONSENT:
            raise ConsentRequired(self.purpose.code)
        if reason is not None:
            raise ProcessingRefused(self.purpose.code, reason)

    def opening(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        if tenant_id != self.tenant_id:  # the sealer would refuse too: never decide for it
            raise ProcessingRefused(self.purpose.code, "no-basis", "another tenant's subject")
        self.require(subject_id)

    def opened(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        self.fields.setdefault(subject_id, set()).update(fields)

    def returning(self, subject_id: UUID, fields: Sequence[str]) -> None:
        """Values of the subject the answer carries without opening them (a command's
        own input, echoed back): decided and owed a record all the same."""
        if fields:
            self.require(subject_id)
            self.opened(self.tenant_id, subject_id, fields)

    def _covered(self) -> bool:
        kept = self.kept
        return kept is not None and all(
            subject in kept and fields <= kept[subject] for subject, fields in self.fields.items()
        )

    @property
    def subjects(self) -> list[UUID]:
        return list(self.fields)

    def owed_by_command(self, subject_id: UUID, fields: Sequence[str]) -> AccessRecord | None:
        """The record of the values a command's answer will carry (its subject's, after the
        change), made before the command commits so that it commits with it: one durable
        write for both. :meth:`kept` once that commit succeeded."""
        self.returning(subject_id, fields)
        return self.record()

    def keep(self) -> None:
        """The record of everything opened so far committed (with the command's events)."""
        self.kept = {subject: frozenset(fields) for subject, fields in self.fields.items()}

    def record(self) -> AccessRecord | None:
        """The request's one record, or ``None`` when nothing personal was opened, or when
        a record committed with the command covers everything opened since."""
        if not self.fields or self._covered():
            return None
        return AccessRecord.record(
            tenant_id=str(self.tenant_id),
            actor=self.actor,
            role=self.role,
            purpose=self.purpose.code,
            operation=self.operation,
            fields=sorted({f for fs in self.fields.values() for f in fs}),
            subject_ids=self.subjects,
            request_id=self.request_id,
        )


def storage_record(
    openings: StorageOpenings, operation: str, actor: str, request_id: str | None = None
) -> AccessRecord:
    """One record for a whole storage run (a rebuild, the read-model runner of a process):
    which fields it opened, of no subject in particular, for ``storage``."""
    return AccessRecord.record(
        tenant_id=PLATFORM,
        actor=actor,
        role="system",
        purpose=STORAGE,
        operation=operation,
        fields=sorted(openings.fields),
        subject_ids=[],
        request_id=request_id,
    )


class StorageRun:
    """The one storage record a run owes (a serving process, a projection worker, a
    rebuild): made the first time the run's read models open anything, then never again in
    that run, so indexing a million events costs one record, not a million."""

    def __init__(
        self,
        openings: StorageOpenings,
        commit: Callable[[AccessRecord], object],
        operation: str = "crm serve",
    ) -> None:
        self.openings = openings
        self.commit = commit
        self.operation = operation
        self.recorded_at: int | None = None  # the openings count when the record was made
        self._lock = threading.Lock()

    def record_if_opened(self) -> None:
        """Record the run once it has opened something; a failure is retried next time
        (the openings served storage, so nothing waits on it)."""
        if self.recorded_at is not None or self.openings.count == 0:
            return
        with self._lock:
            if self.recorded_at is not None:
                return
            try:
                self.commit(storage_record(self.openings, self.operation, "system"))
            except Exception as exc:  # retried at the next catch-up; logged, never silent
                log.warning("storage record not kept", extra={"error_type": type(exc).__name__})
                return
            self.recorded_at = self.openings.count

    def restart(self, operation: str) -> None:
        """A new run in this process (a rebuild): it owes its own record."""
        with self._lock:
            self.operation = operation
            self.recorded_at = None
            self.openings.count = 0
            self.openings.fields.clear()


def named_purpose(code: str) -> Purpose:
    """A purpose from the catalogue (422 otherwise, as everywhere)."""
    return catalogue_purpose(code)
