"""Group commit on both backends: batches under load, and a loser fails alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from service.audit import StoreSource, verify_ledger
from service.bootstrap import Service
from service.group_commit import GroupCommitter


def wait_until(condition: Any, deadline_s: float = 10) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def test_a_conflicting_command_fails_alone_and_its_neighbours_commit(service: Service) -> None:
    crm = service.crm
    tenant, _ = service.tenants.create("Group").value
    contact, _ = service.contacts.register(tenant.id, "a", {"full_name": "Rina"})
    winner = crm.contact(tenant.id, contact.id)
    loser = crm.contact(tenant.id, contact.id)
    winner.update(actor="a", changes={"company": "W"}, sealer=crm.sealer)
    loser.update(actor="b", changes={"company": "L"}, sealer=crm.sealer)
    crm.commit(winner)

    gate, batches = threading.Event(), []

    def gated_save(*events: Any) -> Any:
        batches.append(len(events))
        gate.wait(10)
        return crm.save(*events)

    committer = GroupCommitter(gated_save)
    commands = {
        "first": _register(crm, tenant.id, "Satu"),
        "good": _register(crm, tenant.id, "Dua"),
        "conflict": loser.collect_events(),
        "also good": _register(crm, tenant.id, "Tiga"),
    }
    outcomes: dict[str, Any] = {}

    def submit(name: str) -> None:
        try:
            outcomes[name] = len(committer.submit(commands[name]))
        except IntegrityError as exc:
            outcomes[name] = exc

    threads = {name: threading.Thread(target=submit, args=(name,)) for name in commands}
    threads["first"].start()
    wait_until(lambda: batches == [1])  # the committer is busy with the first command
    for name in ("good", "conflict", "also good"):
        threads[name].start()
    wait_until(lambda: committer._queue.qsize() == 3)
    gate.set()
    for thread in threads.values():
        thread.join(10)
    committer.close()

    assert batches == [1, 3, 1, 1, 1]  # the three together failed; then one by one
    assert outcomes["good"] == 1 and outcomes["also good"] == 1
    assert isinstance(outcomes["conflict"], IntegrityError)
    verdict = verify_ledger(StoreSource(crm.ledger_recorder), service.ledger_signer.public_key)
    assert verdict.ok


def _register(crm: Any, tenant_id: Any, name: str) -> list[Any]:
    from domain.contact import Contact

    contact = Contact.register(
        tenant_id=tenant_id, actor="a", details={"full_name": name}, sealer=crm.sealer
    )
    return list(contact.collect_events())


@pytest.mark.parametrize("threads", [8])
def test_concurrent_commands_all_commit_through_the_group(service: Service, threads: int) -> None:
    tenant, _ = service.tenants.create("Load").value
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                service.contacts.register(tenant.id, "a", {"full_name": f"T{n} {i}"})
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    assert service.crm.recorder.max_notification_id() == 2 + threads * 15 * 2
    verdict = verify_ledger(
        StoreSource(service.crm.ledger_recorder), service.ledger_signer.public_key
    )
    assert verdict.ok and verdict.checked == 2 + threads * 15 * 2


class ObservedSizes:
    """Stands in for the ``crm_group_commit_batch_commands`` histogram."""

    def __init__(self) -> None:
        self.observed: list[float] = []

    def observe(self, amount: float) -> None:
        self.observed.append(amount)


def test_each_shared_transaction_observes_how_many_commands_it_held() -> None:
    gate, sizes = threading.Event(), ObservedSizes()

    def gated_save(*events: Any) -> Any:
        gate.wait(10)
        return list(events)

    committer = GroupCommitter(gated_save, batch_sizes=sizes)
    commands = [[f"{n}.1", f"{n}.2"] for n in range(4)]  # two events each
    threads = [threading.Thread(target=committer.submit, args=(c,)) for c in commands]
    threads[0].start()
    wait_until(lambda: sizes.observed == [1])  # the committer is busy with the first
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: committer._queue.qsize() == 3)
    gate.set()
    for thread in threads:
        thread.join(10)
    committer.close()

    assert sizes.observed == [1, 3]  # commands per transaction, not events
