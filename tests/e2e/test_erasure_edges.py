"""Erasure at its edges, over HTTP: raced by concurrent writers, and scheduled for later."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from crypto.certificates import verify_certificate
from tests.e2e.conftest import Api, Tenant

CONTACTS = 20
WRITERS = 4


def _racing_write(api: Api, tenant: Tenant, contact_id: str, rng: random.Random) -> int:
    """One write about the contact, of a kind picked at random: a PATCH that seals a value,
    one that clears a field (needs no key), a consent, a bare activity."""
    agent = tenant.auth("agent")
    kind = rng.randrange(4)
    if kind == 0:
        body: dict[str, Any] = {"job_title": f"Staf {rng.randrange(1000)}"}
        return api.client.patch(f"/v1/contacts/{contact_id}", json=body, headers=agent).status_code
    if kind == 1:
        body = {"company": None}
        return api.client.patch(f"/v1/contacts/{contact_id}", json=body, headers=agent).status_code
    if kind == 2:
        body = {"purpose": "marketing", "granted": bool(rng.randrange(2))}
        path = f"/v1/contacts/{contact_id}/consents"
        return api.client.post(path, json=body, headers=agent).status_code
    path = f"/v1/contacts/{contact_id}/activities"
    return api.client.post(path, json={"kind": "page_view"}, headers=agent).status_code


def test_erasures_raced_by_concurrent_writers_are_all_recorded(api: Api) -> None:
    tenant = api.new_tenant()
    ids = [api.new_contact(tenant, full_name=f"Korban Balapan {i}")["id"] for i in range(CONTACTS)]
    stop = threading.Event()
    target: list[str] = [ids[0]]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            status = _racing_write(api, tenant, target[0], rng)
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    answers = []
    try:
        for contact_id in ids:
            target[0] = contact_id
            answers.append(
                api.client.post(
                    f"/v1/contacts/{contact_id}/erasure",
                    json={"reason": "data-subject request"},
                    headers=tenant.auth("privacy_officer"),
                )
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert [a.status_code for a in answers] == [200] * CONTACTS, [a.text for a in answers]
    assert set(statuses) <= {200, 201, 409, 410}, statuses
    unrecorded = [
        cid
        for cid, a in zip(ids, answers, strict=True)
        if not _recorded(api, tenant, cid, a.json())
    ]
    assert unrecorded == []


def _recorded(api: Api, tenant: Tenant, contact_id: str, certificate: dict[str, Any]) -> bool:
    """The erasure is in the log with its key destruction, its certificate is served, and
    every endpoint about the subject answers 410 (or, for the auditor, says erased)."""
    auditor, agent = tenant.auth("auditor"), tenant.auth("agent")
    events = api.client.get(
        "/v1/audit/events", params={"contact_id": contact_id}, headers=auditor
    ).json()["items"]
    types = [e["type"] for e in events]
    state = api.client.get(f"/v1/audit/contacts/{contact_id}/state", headers=auditor).json()
    served = api.client.get(f"/v1/erasures/{certificate['id']}", headers=auditor)
    gone = [
        api.client.get(f"/v1/contacts/{contact_id}", headers=agent),
        api.client.get(f"/v1/contacts/{contact_id}/consents", headers=agent),
        api.client.get(f"/v1/contacts/{contact_id}/activities", headers=agent),
        api.client.patch(f"/v1/contacts/{contact_id}", json={"company": None}, headers=agent),
        api.client.post(
            f"/v1/contacts/{contact_id}/activities", json={"kind": "page_view"}, headers=agent
        ),
        api.client.post(
            f"/v1/contacts/{contact_id}/consents",
            json={"purpose": "marketing", "granted": False},
            headers=agent,
        ),
    ]
    return (
        types.count("Contact.Erased") == 1
        and types.count("SubjectKey.Destroyed") == 1
        and state["erased"] is True
        and served.status_code == 200
        and served.json() == certificate
        and verify_certificate(certificate, api.service.signer.public_key)
        and all(r.status_code == 410 for r in gone)
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_scheduled_erasure_answers_202_with_the_id_that_cancels_it(
    api_on: Callable[[str], Api], backend: str
) -> None:
    api = api_on(backend)
    tenant = api.new_tenant()
    contact = api.new_contact(tenant)
    officer = tenant.auth("privacy_officer")
    path = f"/v1/contacts/{contact['id']}/erasure"
    body = {"reason": "subject asked", "grace_period_hours": 24}
    key = {"Idempotency-Key": "8f0d5f86-4d7e-4a49-9a1b-schedule-once"}

    scheduled = api.client.post(path, json=body, headers={**officer, **key})

    assert scheduled.status_code == 202, scheduled.text
    schedule = scheduled.json()
    assert schedule["subject_id"] == contact["id"] and schedule["status"] == "scheduled"
    assert scheduled.headers["location"] == f"/v1/erasures/{schedule['id']}"
    replayed = api.client.post(path, json=body, headers={**officer, **key})
    assert replayed.status_code == 202 and replayed.json() == schedule
    shown = api.client.get(f"/v1/erasures/{schedule['id']}", headers=officer)
    assert shown.status_code == 200 and shown.json()["status"] == "scheduled"

    cancelled = api.client.post(f"/v1/erasures/{schedule['id']}/cancel", headers=officer)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {**schedule, "status": "cancelled"}
    still_there = api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.auth("agent"))
    assert still_there.status_code == 200


def test_a_scheduled_erasure_runs_once_due_and_purges_stored_responses(api: Api) -> None:
    tenant = api.new_tenant()
    agent = tenant.auth("agent")
    key = {"Idempotency-Key": "create-then-erase-later"}
    body = {"full_name": "Ketut Jelantik", "email": "ketut@contoh.id"}
    created = api.client.post("/v1/contacts", json=body, headers={**agent, **key})
    contact_id = created.json()["id"]
    scheduled = api.client.post(
        f"/v1/contacts/{contact_id}/erasure",
        json={"reason": "subject asked", "grace_period_hours": 1},
        headers=tenant.auth("privacy_officer"),
    ).json()

    api.clock.advance(hours=2)
    (certificate,) = api.service.erasures.run_due()

    assert certificate.erasure_id == scheduled["id"]
    replay = api.client.post("/v1/contacts", json=body, headers={**agent, **key})
    assert replay.status_code == 410, replay.text
    assert "ketut" not in replay.text.lower()
