"""No record, no plaintext, across a crash: a real ``crm serve`` killed with SIGKILL while
clients read personal data, then restarted on the same data, shows in its processing trail
a record of every answer that reached a client (DESIGN invariant 12).

The answers that fully arrived before the kill are the ones the service may no longer deny
having given; the answers cut off by the kill may or may not have their record (the record
is committed before the answer is sent, so a record without an answer is fine).

Why this is not vacuous: the test waits for answers to arrive before it kills, so it always
has answers to look for, and every one of them must be found in the trail. Without the
:class:`~api.disclosure.DisclosureMiddleware` no access record is ever committed (the routes
only collect what they open; the middleware commits it), so every answer would be missing.
A middleware that sent the answer first and recorded it afterwards would lose the records of
the answers sent just before the kill; with several readers the gap holds a few answers at
any moment, so the test catches that too.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.servers import ServerProcess, service_env, start_server
from tests.harness import wait_until

READERS = 6
ANSWERS_BEFORE_THE_KILL = 60
CONTACTS = 3


@dataclass(frozen=True)
class Read:
    """One request for personal data and the access record its answer is owed."""

    path: str
    operation: str  # as recorded: the method and the route template
    contact_id: str | None = None  # whose data the answer carries; a page: its items'

    def subjects(self, body: Any) -> frozenset[str]:
        if self.contact_id is not None:
            return frozenset({self.contact_id})
        return frozenset(item["id"] for item in body["items"])


@dataclass(frozen=True)
class Answer:
    """A 2xx answer that fully arrived at a client."""

    request_id: str
    operation: str
    subject_ids: frozenset[str]


@dataclass
class Desk:
    """The people and data the reads are about."""

    agent: dict[str, str]
    agent_id: str
    auditor: dict[str, str]
    contact_ids: list[str]


@dataclass
class Readers:
    """Client threads reading in a loop until told to stop; what arrived, kept."""

    base_url: str
    headers: dict[str, str]
    reads: list[Read]
    arrived: list[Answer] = field(default_factory=list)
    in_flight: int = 0
    cut_off: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, count: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.read, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        return threads

    def read(self, first: int) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30) as client:
            for n in itertools.count(first):
                if self.stop.is_set() or not self._one(client, self.reads[n % len(self.reads)]):
                    return

    def _one(self, client: httpx.Client, read: Read) -> bool:
        """Send one read; whether an answer came (a read the kill cut off ends the thread)."""
        with self.lock:
            self.in_flight += 1
        try:
            response = client.get(read.path)  # returns once the whole body has arrived
        except httpx.TransportError:  # cut off: it may or may not have its record
            with self.lock:
                self.in_flight -= 1
                self.cut_off += 1
            return False
        with self.lock:
            self.in_flight -= 1
            if response.is_success:
                answer = Answer(
                    response.headers["x-request-id"], read.operation, read.subjects(response.json())
                )
                self.arrived.append(answer)
        return True

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)

    def busy(self) -> bool:
        """Enough answers have arrived, and reads are in flight right now."""
        with self.lock:
            return len(self.arrived) >= ANSWERS_BEFORE_THE_KILL and self.in_flight > 0


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_every_answer_that_reached_a_client_before_a_kill_9_has_its_access_record(
    make_settings: Callable[..., Settings], tmp_path: Path, engine: str
) -> None:
    env = service_env(make_settings(engine))
    log = tmp_path / "server.log"
    server = start_server(env, log)
    desk = _desk(server.client)
    readers = Readers(server.base_url, desk.agent, _reads(desk.contact_ids))

    threads = readers.start(READERS)
    try:
        wait_until(readers.busy, 30, f"{ANSWERS_BEFORE_THE_KILL} answers, reads in flight")
    finally:
        server.process.kill()
        server.process.wait()
        server.client.close()
        readers.stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    restarted = start_server(env, log)
    try:
        trail = _whole_trail(restarted, desk.auditor)
    finally:
        restarted.stop()

    missing = [a for a in readers.arrived if a.request_id not in trail]
    assert not missing, (
        f"{len(missing)} of {len(readers.arrived)} answers that arrived have no access record"
        f" ({readers.cut_off} reads were cut off by the kill)"
    )
    for answer in readers.arrived:
        record = trail[answer.request_id]
        assert record["operation"] == answer.operation
        assert frozenset(record["subject_ids"]) == answer.subject_ids
        assert (record["actor"], record["role"]) == (desk.agent_id, "agent")
        assert record["purpose"] == "account_management"
        assert record["fields"]


def _reads(contact_ids: list[str]) -> list[Read]:
    """A contact, its consents (whose source is the subject's data) and a page of contacts."""
    reads = [Read(f"/v1/contacts?limit={CONTACTS}", "GET /v1/contacts")]
    for cid in contact_ids:
        reads += [
            Read(f"/v1/contacts/{cid}", "GET /v1/contacts/{contact_id}", cid),
            Read(f"/v1/contacts/{cid}/consents", "GET /v1/contacts/{contact_id}/consents", cid),
        ]
    return reads


def _desk(client: httpx.Client) -> Desk:
    """A tenant with an agent, an auditor and contacts whose consents carry a source."""
    platform = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tenant = client.post("/v1/tenants", json={"name": "Toko"}, headers=platform)
    assert tenant.status_code == 201, tenant.text
    admin = {"Authorization": f"Bearer {tenant.json()['admin_token']}"}
    users = {}
    for role in ("agent", "auditor"):
        user = client.post("/v1/users", json={"full_name": role, "role": role}, headers=admin)
        assert user.status_code == 201, user.text
        users[role] = user.json()
    agent = {"Authorization": f"Bearer {users['agent']['token']}"}
    contact_ids = []
    for n in range(CONTACTS):
        body = {"full_name": f"Tamu {n}", "email": f"tamu{n}@contoh.id"}
        contact = client.post("/v1/contacts", json=body, headers=agent)
        assert contact.status_code == 201, contact.text
        cid = contact.json()["id"]
        consent = {"purpose": "marketing", "granted": True, "source": f"formulir {n}"}
        decided = client.post(f"/v1/contacts/{cid}/consents", json=consent, headers=agent)
        assert decided.status_code == 201, decided.text
        contact_ids.append(cid)
    auditor = {"Authorization": f"Bearer {users['auditor']['token']}"}
    return Desk(agent, users["agent"]["id"], auditor, contact_ids)


def _whole_trail(server: ServerProcess, auditor: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every access record of the tenant, by request id, once the trail has caught up with
    everything the dead process committed."""
    head = server.client.get("/readyz").json()["head"]

    def caught_up() -> bool:
        ready = server.client.get("/readyz")
        return ready.status_code == 200 and ready.json()["projections"]["access_trail"] >= head

    wait_until(caught_up, 30, "the access trail catching up after the restart")
    trail: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": 500}
    while True:
        page = server.client.get("/v1/audit/access", params=params, headers=auditor)
        assert page.status_code == 200, page.text
        body = page.json()
        trail.update({item["request_id"]: item for item in body["items"]})
        if body["next_cursor"] is None:
            return trail
        params["cursor"] = body["next_cursor"]
