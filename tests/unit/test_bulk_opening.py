"""Opening many subjects at once (a rebuild's blind indexes) keeps invariant 12: the
disclosure hears of every opening before any key is read, and of each one it got."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

from crypto.keystore import DataKey, InMemoryKeystore
from crypto.sealer import SubjectSealer

TENANT = uuid.uuid4()


class Journal(InMemoryKeystore):
    """An in-memory keystore that writes down each bulk read, in one shared journal."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal

    def keys_for_opening(self, tenant_id: UUID, subject_ids: Sequence[UUID]) -> dict[UUID, DataKey]:
        self.journal.append(f"keys for {len(subject_ids)}")
        return super().keys_for_opening(tenant_id, subject_ids)


class Witness:
    """A disclosure that writes down what it is asked and told."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    def opening(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        self.journal.append(f"opening {subject_id} {list(fields)}")

    def opened(self, tenant_id: UUID, subject_id: UUID, fields: Sequence[str]) -> None:
        self.journal.append(f"opened {subject_id} {list(fields)}")


def test_every_opening_is_announced_before_keys_are_read_and_each_opened_one_told() -> None:
    journal: list[str] = []
    keystore = Journal(journal)
    sealer = SubjectSealer(keystore)
    live, erased = uuid.uuid4(), uuid.uuid4()
    token = sealer.seal_fields(TENANT, live, 1, {"email": "dewi@example.id"})["email"]
    gone = sealer.seal_fields(TENANT, erased, 1, {"email": "adi@example.id"})["email"]
    keystore.destroy(TENANT, erased, "erasure-1")

    opened = sealer.open_subjects(
        TENANT,
        [(live, {"email": (1, token)}), (erased, {"email": (1, gone)}), (live, {})],
        Witness(journal),
    )

    assert opened == [{"email": "dewi@example.id"}, None, {}]
    assert journal == [
        f"opening {live} ['email']",
        f"opening {erased} ['email']",
        "keys for 2",
        f"opened {live} ['email']",
    ]
