"""The audit ledger: written with every event, verified end to end, on both backends."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.background import checkpointer
from crypto.audit_proofs import check_consistency_proof, check_inclusion_proof
from crypto.signing import KeyNotPinned, MalformedPublicKey
from service.audit import (
    BundleSource,
    StoreSource,
    export_bundle,
    latest_checkpoint,
    prove_consistency,
    prove_inclusion,
    verify_ledger,
)
from service.bootstrap import Service, bootstrap
from service.errors import ConcurrentWrite
from service.settings import Settings
from tests.harness import wait_until


@pytest.fixture
def ledgered(make_settings: Callable[..., Settings], backend: str) -> Iterator[Service]:
    """A service that checkpoints every 5 events."""
    svc = bootstrap(make_settings(backend, CRM_CHECKPOINT_EVERY_EVENTS="5"))
    try:
        yield svc
    finally:
        svc.close()


def fill(service: Service, contacts: int = 6) -> tuple[uuid.UUID, list[uuid.UUID]]:
    tenant, _ = service.tenants.create("Ledger").value
    ids = []
    for i in range(contacts):
        contact, _ = service.contacts.register(tenant.id, "agent", {"full_name": f"Orang {i}"})
        ids.append(contact.id)
    return tenant.id, ids


def verify(service: Service) -> dict[str, object]:
    source = StoreSource(service.crm.ledger_recorder)
    return verify_ledger(source, service.ledger_signer.public_key).as_dict()


def test_every_event_gets_an_entry_and_the_ledger_verifies(ledgered: Service) -> None:
    fill(ledgered)
    head = ledgered.crm.recorder.max_notification_id()
    verdict = verify(ledgered)
    assert verdict == {
        "ok": True,
        "checked": head,
        "head": {"size": head, "root_hash": verdict["head"]["root_hash"], "position": head},  # type: ignore[index]
    }
    checkpoints = ledgered.crm.ledger_recorder.query("SELECT size FROM ledger_checkpoints")
    sizes = sorted(r["size"] for r in checkpoints)
    assert sizes[0] == 1  # the first entry, checkpointed as it was written
    assert 5 <= sizes[1] - sizes[0] <= 6  # saves of two events can step over the boundary


def test_a_refused_write_leaves_no_entry(ledgered: Service) -> None:
    tenant_id, ids = fill(ledgered, 1)
    first = ledgered.crm.contact(tenant_id, ids[0])
    second = ledgered.crm.contact(tenant_id, ids[0])
    first.update(actor="a", changes={"company": "A"}, sealer=ledgered.crm.sealer)
    second.update(actor="b", changes={"company": "B"}, sealer=ledgered.crm.sealer)
    ledgered.crm.save(first)
    with pytest.raises(ConcurrentWrite):
        ledgered.crm.commit(second)
    entries = ledgered.crm.ledger_recorder.query("SELECT COUNT(*) AS n FROM ledger_entries")
    assert entries[0]["n"] == ledgered.crm.recorder.max_notification_id()
    assert verify(ledgered)["ok"] is True


def test_concurrent_writers_share_one_unbroken_chain(ledgered: Service) -> None:
    tenant, _ = ledgered.tenants.create("Busy").value
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                ledgered.contacts.register(tenant.id, "agent", {"full_name": f"W{n} {i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    verdict = verify(ledgered)
    assert verdict["ok"] is True and verdict["checked"] == 2 + 4 * 10 * 2  # contact + key each


def test_crypto_shredding_is_not_tampering(ledgered: Service) -> None:
    tenant_id, ids = fill(ledgered)
    before = verify(ledgered)
    ledgered.erasures.erase(tenant_id, ids[2], "po", "asked", None)
    after = verify(ledgered)
    assert before["ok"] is True and after["ok"] is True
    assert after["checked"] == before["checked"] + 2  # type: ignore[operator]


def test_exported_bundle_verifies_offline_and_detects_edits(
    ledgered: Service, tmp_path: Path
) -> None:
    fill(ledgered)
    bundle = tmp_path / "ledger.jsonl"
    with bundle.open("wb") as out:
        count = export_bundle(ledgered.crm.ledger_recorder, out)
    key = ledgered.ledger_signer.public_key
    assert verify_ledger(BundleSource(str(bundle)), key).as_dict()["checked"] == count
    lines = bundle.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"originator_version":1', b'"originator_version":2')
    bundle.write_bytes(b"\n".join(lines) + b"\n")
    verdict = verify_ledger(BundleSource(str(bundle)), key).as_dict()
    assert verdict["ok"] is False and verdict["first_bad_position"] == 4


def test_proofs_check_offline_against_signed_checkpoints(ledgered: Service) -> None:
    fill(ledgered, 12)  # 26 events, two per save: checkpoints at 1, then 6, 12, 18 and 24
    recorder = ledgered.crm.ledger_recorder
    key = ledgered.ledger_signer.public_key
    sizes = [r["size"] for r in recorder.query("SELECT size FROM ledger_checkpoints ORDER BY size")]
    assert sizes == [1, 6, 12, 18, 24]
    proof = prove_inclusion(recorder, 3, 12)
    assert proof["checkpoint"] is not None
    assert check_inclusion_proof(proof, proof["checkpoint"], key)
    forged = {**proof, "event_hash": "00" * 32}
    assert not check_inclusion_proof(forged, proof["checkpoint"], key)
    consistency = prove_consistency(recorder, 6, 18)
    assert check_consistency_proof(
        consistency, consistency["first_checkpoint"], consistency["second_checkpoint"], key
    )
    tampered = {**consistency["first_checkpoint"], "root_hash": "11" * 32}
    assert not check_consistency_proof(consistency, tampered, consistency["second_checkpoint"], key)


def test_bundle_round_trip_is_streamed(ledgered: Service) -> None:
    fill(ledgered, 3)
    buffer = io.BytesIO()
    assert export_bundle(ledgered.crm.ledger_recorder, buffer) == 8
    assert buffer.getvalue().count(b'"kind":"entry"') == 8


def checkpoint_sizes(service: Service) -> list[int]:
    rows = service.crm.ledger_recorder.query("SELECT size FROM ledger_checkpoints ORDER BY size")
    return [int(r["size"]) for r in rows]


def head_size(service: Service) -> int:
    return service.crm.recorder.max_notification_id() or 0


def test_the_first_entry_is_checkpointed_as_it_is_written(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    with bootstrap(make_settings(backend)) as service:  # in-write checkpoints every 1000
        assert latest_checkpoint(service.crm.ledger_recorder) is None
        service.tenants.create("First")
        assert checkpoint_sizes(service) == [1]
        assert verify(service)["ok"] is True


def test_checkpointing_the_head_stores_it_once(ledgered: Service) -> None:
    fill(ledgered, 1)  # 4 entries: only the first is checkpointed by the writes
    assert checkpoint_sizes(ledgered) == [1]
    ledgered.crm.ledger_recorder.checkpoint_head()
    ledgered.crm.ledger_recorder.checkpoint_head()
    assert checkpoint_sizes(ledgered) == [1, 4]
    assert verify(ledgered)["ok"] is True


def test_concurrent_checkpointers_and_writers_keep_the_ledger_whole(ledgered: Service) -> None:
    tenant, _ = ledgered.tenants.create("Busy").value
    writing = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(8):
                ledgered.contacts.register(tenant.id, "agent", {"full_name": f"W{n} {i}"})
        except BaseException as exc:
            errors.append(exc)

    def checkpoint() -> None:
        try:
            while not writing.is_set():
                ledgered.crm.ledger_recorder.checkpoint_head()
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    checkpointers = [threading.Thread(target=checkpoint) for _ in range(3)]
    for t in [*writers, *checkpointers]:
        t.start()
    for t in writers:
        t.join()
    writing.set()
    for t in checkpointers:
        t.join()
    ledgered.crm.ledger_recorder.checkpoint_head()
    assert not errors
    assert checkpoint_sizes(ledgered)[-1] == head_size(ledgered)
    assert verify(ledgered)["ok"] is True


def test_the_checkpointer_covers_the_last_entry_without_further_writes(
    make_settings: Callable[..., Settings], backend: str
) -> None:
    settings = make_settings(backend, CRM_CHECKPOINT_MAX_DELAY_SECONDS="0.2")
    with bootstrap(settings) as service:
        fill(service, 2)
        last = head_size(service)
        recorder = service.crm.ledger_recorder
        assert checkpoint_sizes(service) == [1]  # the writes alone leave the tail uncovered
        running = checkpointer(service).start()
        try:
            wait_until(
                lambda: checkpoint_sizes(service)[-1] == last, 10, "a checkpoint of the head"
            )
        finally:
            running.stop()
        latest = latest_checkpoint(recorder)
        assert latest is not None
        proof = prove_inclusion(recorder, last, None)
        assert proof["tree_size"] == last
        assert check_inclusion_proof(proof, latest, service.ledger_signer.public_key)


@pytest.mark.parametrize("key", ["", "   ", "bm90IGEga2V5"])
def test_verifying_the_ledger_needs_a_well_formed_pinned_key(ledgered: Service, key: str) -> None:
    source = StoreSource(ledgered.crm.ledger_recorder)  # even an empty ledger
    with pytest.raises((KeyNotPinned, MalformedPublicKey)):
        verify_ledger(source, key)
