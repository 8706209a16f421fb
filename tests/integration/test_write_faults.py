"""A failure at any step of a write commits nothing and leaves the store writable (invariant 13).

One set of cases, run on both engines: a fault is injected at each step a write takes inside
its transaction (the events insert, the ledger entries, the signed head, the signature, the
checkpoint, the NOTIFY on PostgreSQL, the read-model rows and tracking positions written
with the events, a projection whose code raises), a command is sent, and afterwards there is
no new event, no new ledger entry, the head, checkpoints and read models are as before,
``verify`` is ok, and once the fault is gone the next command commits with its read models.
Faults are real where they can be: database triggers that raise inside the transaction; the
signer is a stand-in for a KMS that times out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from service.audit import StoreSource, verify_ledger
from service.bootstrap import Service, bootstrap
from service.errors import CommitFailed
from service.settings import Settings, SettingsError
from storage.recorders import LedgerRecorder
from tests.e2e.servers import run_cli
from tests.faults import TimingOutSigner
from tests.harness import process_env

Remove = Callable[[], None]


def _trigger(
    recorder: LedgerRecorder, table: str, when: str = "INSERT", name: str = "crm_fault"
) -> Remove:
    """A trigger that makes every ``when`` on ``table`` fail inside the writing transaction."""
    if recorder.dialect == "sqlite":
        recorder.execute_write(
            f"CREATE TRIGGER {name} BEFORE {when} ON {table}"
            " BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
        return lambda: recorder.execute_write(f"DROP TRIGGER {name}")
    recorder.execute_write(
        "CREATE OR REPLACE FUNCTION crm_fault() RETURNS trigger AS $$"
        " BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql"
    )
    recorder.execute_write(
        f"CREATE TRIGGER {name} BEFORE {when} ON {table} FOR EACH ROW EXECUTE FUNCTION crm_fault()"
    )
    return lambda: recorder.execute_write(f"DROP TRIGGER {name} ON {table}")


def fail_events_insert(service: Service) -> Remove:
    recorder = service.crm.ledger_recorder
    return _trigger(recorder, recorder.events_table)


def fail_ledger_entries(service: Service) -> Remove:
    return _trigger(service.crm.ledger_recorder, "ledger_entries")


def fail_head(service: Service) -> Remove:
    return _trigger(service.crm.ledger_recorder, "ledger_head", "UPDATE")


def fail_checkpoint(service: Service) -> Remove:
    return _trigger(service.crm.ledger_recorder, "ledger_checkpoints")


def fail_signature(service: Service) -> Remove:
    ledger = service.crm.ledger
    real = ledger.signer
    ledger.signer = TimingOutSigner(real)

    def remove() -> None:
        ledger.signer = real

    return remove


def fail_notify(service: Service) -> Remove:
    """PostgreSQL refuses a NOTIFY payload over 8000 bytes: a real error at that step."""
    recorder: Any = service.crm.ledger_recorder
    real = recorder._notify_channel

    def oversized(curs: Any) -> None:
        curs.execute("SELECT pg_notify(%s, repeat('x', 9000))", (recorder.channel_name,))

    recorder._notify_channel = oversized

    def remove() -> None:
        recorder._notify_channel = real

    return remove


def corrupt_head(service: Service) -> Remove:
    """A head row whose frontier no longer parses: the writer cannot extend the chain."""
    recorder = service.crm.ledger_recorder
    saved = recorder.query("SELECT frontier FROM ledger_head WHERE id = 1")[0]["frontier"]
    recorder.execute_write("UPDATE ledger_head SET frontier = 'not a frontier' WHERE id = 1")
    return lambda: recorder.execute_write(
        "UPDATE ledger_head SET frontier = :f WHERE id = 1", {"f": saved}
    )


def fail_read_model_row(service: Service) -> Remove:
    """The contacts read model refuses its rows, new or changed: they are written in the
    command's transaction."""
    recorder = service.crm.ledger_recorder
    removes = [
        _trigger(recorder, "contacts_view", when, f"crm_fault_{when.lower()}")
        for when in ("INSERT", "UPDATE")
    ]

    def remove() -> None:
        for each in removes:
            each()

    return remove


def fail_tracking(service: Service) -> Remove:
    recorder = service.crm.ledger_recorder
    table = "tracking" if recorder.dialect == "sqlite" else "projection_tracking"
    return _trigger(recorder, table, "UPDATE")


def fail_projection(service: Service) -> Remove:
    """A projection whose code raises (a bug in it) fails the command, not the read model."""
    projection: Any = next(p for p in service.runner.projections if p.name == "contacts")

    def raises(event: Any, position: int) -> list[Any]:
        raise RuntimeError("injected fault")

    projection.writes_for = raises
    return lambda: delattr(projection, "writes_for")


@dataclass(frozen=True)
class Fault:
    step: str
    inject: Callable[[Service], Remove]
    engines: tuple[str, ...] = ("sqlite", "postgres")


FAULTS = [
    Fault("events insert", fail_events_insert),
    Fault("ledger entries", fail_ledger_entries),
    Fault("ledger head", fail_head),
    Fault("head signature (KMS timeout)", fail_signature),
    Fault("checkpoint", fail_checkpoint),
    Fault("notify", fail_notify, ("postgres",)),
    Fault("corrupt head row", corrupt_head),
    Fault("read-model row", fail_read_model_row),
    Fault("projection tracking", fail_tracking),
    Fault("projection raises", fail_projection),
]
CASES = [
    pytest.param(engine, fault, id=f"{engine}-{fault.step}")
    for fault in FAULTS
    for engine in fault.engines
]


@pytest.fixture
def make_service(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Service]]:
    built: list[Service] = []

    def make(engine: str, **env: str) -> Service:
        # A checkpoint with every write, so the checkpoint step is always taken.
        service = bootstrap(make_settings(engine, CRM_CHECKPOINT_EVERY_EVENTS="1", **env))
        built.append(service)
        return service

    yield make
    for service in built:
        service.close()


def snapshot(service: Service) -> dict[str, Any]:
    recorder = service.crm.ledger_recorder
    return {
        "events": service.crm.recorder.max_notification_id() or 0,
        "entries": recorder.query("SELECT COUNT(*) AS n FROM ledger_entries")[0]["n"],
        "head": recorder.query("SELECT size, chain_hash, signature FROM ledger_head"),
        "checkpoints": recorder.query("SELECT size FROM ledger_checkpoints ORDER BY size"),
        "read models": service.runner.positions(),
        "contacts": service.read_models.query("SELECT id, version FROM contacts_view ORDER BY id"),
    }


def verdict(service: Service) -> dict[str, Any]:
    source = StoreSource(service.crm.ledger_recorder)
    return verify_ledger(source, service.ledger_signer.public_key).as_dict()


@pytest.mark.parametrize("group_commit", ["on", "off"])
@pytest.mark.parametrize(("engine", "fault"), CASES)
def test_a_fault_at_any_step_of_a_write_commits_nothing_and_the_next_write_succeeds(
    make_service: Callable[..., Service], engine: str, fault: Fault, group_commit: str
) -> None:
    service = make_service(engine, CRM_GROUP_COMMIT=group_commit)
    tenant, _ = service.answer(service.tenants.create("Faults"))
    contact = service.answer(
        service.contacts.register(tenant.id, "agent", {"full_name": "Sri Rahayu"})
    )
    before = snapshot(service)

    remove = fault.inject(service)
    try:
        with pytest.raises(CommitFailed):
            service.contacts.update(tenant.id, contact.id, "agent", {"company": "PT A"}, None)
        with pytest.raises(CommitFailed):
            service.contacts.register(tenant.id, "agent", {"full_name": "Dewi Lestari"})
    finally:
        remove()

    assert snapshot(service) == before
    assert verdict(service)["ok"] is True
    updated, position = service.contacts.update(
        tenant.id, contact.id, "agent", {"company": "PT B"}, 1
    )
    assert updated.version == 2
    assert service.runner.reached(position)  # its read models came with it: no catch-up ran
    after = snapshot(service)
    assert after["events"] > before["events"]
    assert after["entries"] == before["entries"] + 1
    final = verdict(service)
    assert final["ok"] is True
    assert final["checked"] == after["entries"]


def test_postgres_refuses_the_library_db_functions_that_skip_the_ledger(
    make_settings: Callable[..., Settings],
) -> None:
    """``POSTGRES_ENABLE_DB_FUNCTIONS`` inserts events through a stored procedure that never
    reaches the ledger hook: events without entries. The store refuses to write with it."""
    service = bootstrap(make_settings("postgres"))
    try:
        service.crm.recorder.datastore.enable_db_functions = True  # type: ignore[attr-defined]
        tenant_events = service.crm.recorder.max_notification_id() or 0
        with pytest.raises(CommitFailed):
            service.tenants.create("Skips the ledger")
        assert (service.crm.recorder.max_notification_id() or 0) == tenant_events
    finally:
        service.close()


def test_the_setting_that_skips_the_ledger_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        Settings.from_env({"POSTGRES_ENABLE_DB_FUNCTIONS": "yes"})


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_key_left_by_a_failed_command_is_listed_as_an_orphan_by_keys_status(
    make_settings: Callable[..., Settings], engine: str
) -> None:
    settings = make_settings(engine)
    service = bootstrap(settings)
    try:
        tenant, _ = service.tenants.create("Orphans").value
        kept, _ = service.contacts.register(tenant.id, "agent", {"full_name": "Tetap Ada"})
        remove = fail_signature(service)
        try:
            with pytest.raises(CommitFailed):
                service.contacts.register(tenant.id, "agent", {"full_name": "Gagal Simpan"})
        finally:
            remove()
    finally:
        service.close()

    status = run_cli(process_env(settings), "keys", "status")

    assert status.returncode == 0, status.stderr
    orphans = orjson.loads(status.stdout)["orphan_keys"]
    assert len(orphans) == 1
    assert orphans[0]["tenant_id"] == str(tenant.id)
    assert orphans[0]["subject_id"] != str(kept.id)
    assert orphans[0]["destroyed"] is False
