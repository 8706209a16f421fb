"""The privacy-policy read models on SQLite and PostgreSQL: consents, the marketing audience,
the shares register, the request queue, service data, and what erasure leaves of them.

Every test takes the ``service`` fixture (both backends) and the ``clock`` it runs on.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import ConsentRequired, SubjectErased
from domain.values import utc_text
from projections.consents import consent_events, consenting_contacts, current_consents
from projections.contacts import contact_rows
from projections.requests import find_requests
from projections.shares import find_shares
from service.bootstrap import Service
from service.views import contact_page
from tests.clock import ManualClock
from tests.integration.racing import race_two_runners
from tests.witness import WITNESS, access_for

NEW_TABLES = (
    "consent_events_view",
    "consents_view",
    "policies_view",
    "activities_view",
    "linked_accounts_view",
    "shares_view",
    "share_steps_view",
    "requests_view",
)
PERSONAL = {
    "full_name": "Cahyaningrum Prameswari",
    "email": "cahyaningrum.p@kotakpos-rahasia.id",
    "phone": "+6285712349876",
}
USAGE = {
    "ip": "198.51.100.23",
    "user_agent": "Mozilla/5.0 ChromeRahasia/126",
    "device": "Perangkat Xiaomi Redmi Rahasia",
    "location": "Kecamatan Tersembunyi, Sleman",
    "referrer": "https://rujukan-rahasia.example/halaman",
    "detail": "mengirim pesan ke Bu Ratna Sari",
}
SOURCE = "formulir pendaftaran Cahyaningrum"
HANDLE = "cahyaningrum_rahasia"


def setup(service: Service) -> tuple[uuid.UUID, uuid.UUID]:
    tenant, _ = service.tenants.create("Tenant").value
    contact, _ = service.contacts.register(tenant.id, "agent", PERSONAL)
    return tenant.id, contact.id


def grant(service: Service, tenant_id: uuid.UUID, contact_id: uuid.UUID, *purposes: str) -> None:
    for purpose in purposes:
        service.consents.decide(
            tenant_id,
            contact_id,
            "agent",
            purpose=purpose,
            granted=True,
            policy_version=None,
            source=SOURCE,
            access=access_for(service, tenant_id, "account_management"),
        )
    service.runner.catch_up()  # the decision point reads consents from the read models


def every_row(service: Service) -> str:
    rows: list[dict[str, Any]] = []
    for table in NEW_TABLES:
        rows += service.read_models.query(f"SELECT * FROM {table}")
    return repr(rows)


def test_consent_views_hold_history_and_the_latest_decision(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    service.consents.publish_policy(
        tenant_id,
        "admin",
        version="v1",
        effective_at=None,
        document_url=None,
        document_sha256=None,
    )
    grant(service, tenant_id, contact_id, "marketing", "training_data")
    service.consents.decide(
        tenant_id,
        contact_id,
        "agent",
        purpose="marketing",
        granted=False,
        policy_version="v1",
        source=None,
        access=access_for(service, tenant_id, "account_management"),
    )
    service.runner.catch_up()
    service.runner.catch_up()
    history = consent_events(service.read_models, tenant_id, contact_id)
    assert [(r["kind"], r["purpose"]) for r in history] == [
        ("granted", "marketing"),
        ("granted", "training_data"),
        ("withdrawn", "marketing"),
    ]
    assert {r["policy_version"] for r in history} == {"v1"}
    current = current_consents(service.read_models, tenant_id, contact_id)
    assert {p: bool(r["granted"]) for p, r in current.items()} == {
        "marketing": False,
        "training_data": True,
    }
    assert SOURCE not in every_row(service)


def test_marketing_audience_is_contacts_with_current_marketing_consent(service: Service) -> None:
    tenant_id, granted = setup(service)
    withdrawn, _ = service.contacts.register(tenant_id, "agent", {"full_name": "B"})
    never, _ = service.contacts.register(tenant_id, "agent", {"full_name": "C"})
    erased, _ = service.contacts.register(tenant_id, "agent", {"full_name": "D"})
    other_tenant, elsewhere = setup(service)
    for contact_id in (granted, withdrawn.id, erased.id):
        grant(service, tenant_id, contact_id, "marketing")
    grant(service, other_tenant, elsewhere, "marketing")
    service.consents.decide(
        tenant_id,
        withdrawn.id,
        "agent",
        purpose="marketing",
        granted=False,
        policy_version=None,
        source=None,
        access=access_for(service, tenant_id, "account_management"),
    )
    service.erasures.erase(tenant_id, erased.id, "po", "asked", None)
    service.runner.catch_up()
    rows = consenting_contacts(service.read_models, tenant_id, "marketing", "", 50)
    assert [r["id"] for r in rows] == [str(granted)]
    assert never.id not in {uuid.UUID(r["id"]) for r in rows}


def authorised_share(service: Service, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> uuid.UUID:
    share = service.shares.request(
        tenant_id,
        "agent",
        contact_id=contact_id,
        recipient="PT Logistik",
        purpose="support",
        fields=["email", "phone"],
    ).value
    service.shares.approve(tenant_id, share.id, "pic")
    service.shares.authorize(tenant_id, share.id, "admin", agreement_ref="PKS-9", expires_at=None)
    return share.id


def test_shares_register_holds_every_step_once(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    grant(service, tenant_id, contact_id, "third_party_sharing")
    share_id = authorised_share(service, tenant_id, contact_id)
    _, shared = service.shares.execute(
        tenant_id, share_id, "agent", access_for(service, tenant_id, "third_party_sharing")
    ).value
    assert shared == {"email": PERSONAL["email"], "phone": PERSONAL["phone"]}
    service.shares.revoke(tenant_id, share_id, "pic", reason="contract ended")
    service.runner.catch_up()
    service.runner.catch_up()
    [share] = find_shares(service.read_models, tenant_id, contact_id=contact_id)
    assert share["status"] == "revoked" and share["agreement_ref"] == "PKS-9"
    steps = [s["step"] for s in share["steps"]]
    assert steps == ["requested", "approved", "authorized", "executed", "revoked"]
    assert PERSONAL["email"] not in every_row(service)
    assert find_shares(service.read_models, uuid.uuid4(), share_id=share_id) == []


def test_refused_share_step_stores_nothing(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    share_id = authorised_share(service, tenant_id, contact_id)
    head = service.runner.head()
    with pytest.raises(ConsentRequired):
        service.shares.execute(
            tenant_id, share_id, "agent", access_for(service, tenant_id, "third_party_sharing")
        )
    assert service.runner.head() == head


def test_request_queue_shows_what_is_overdue_by_the_clock(
    service: Service, clock: ManualClock
) -> None:
    tenant_id, contact_id = setup(service)
    early = service.requests.receive(
        tenant_id,
        "po",
        contact_id=contact_id,
        kind="access",
        requested_by="subject",
        subject_is_minor=False,
    ).value
    clock.advance(hours=24)
    late = service.requests.receive(
        tenant_id,
        "po",
        contact_id=contact_id,
        kind="rectification",
        requested_by="subject",
        subject_is_minor=False,
    ).value
    done = service.requests.receive(
        tenant_id,
        "po",
        contact_id=contact_id,
        kind="access",
        requested_by="operator",
        subject_is_minor=False,
    ).value
    service.requests.start(tenant_id, done.id, "po")
    service.requests.verify(tenant_id, done.id, "po", method="document", note=None)
    service.requests.complete(
        tenant_id, done.id, "po", access_for(service, tenant_id, "subject_request")
    )
    clock.advance(hours=50)  # early: 74 h old, late and done: 50 h old
    service.runner.catch_up()
    overdue = find_requests(service.read_models, tenant_id, overdue=True, now=utc_text(clock()))
    assert [r["id"] for r in overdue] == [str(early.id)]
    clock.advance(hours=23)
    overdue = find_requests(service.read_models, tenant_id, overdue=True, now=utc_text(clock()))
    assert [r["id"] for r in overdue] == [str(early.id), str(late.id)]
    closed = find_requests(service.read_models, tenant_id, status="done")
    assert [r["id"] for r in closed] == [str(done.id)] and closed[0]["closed_at"]


def test_completed_erasure_request_erases_the_contact(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    request = service.requests.receive(
        tenant_id,
        "po",
        contact_id=contact_id,
        kind="erasure",
        requested_by="guardian",
        subject_is_minor=True,
    ).value
    service.requests.start(tenant_id, request.id, "po")
    service.requests.verify(tenant_id, request.id, "po", method="in_person", note=None)
    completed = service.requests.complete(
        tenant_id, request.id, "po", access_for(service, tenant_id, "subject_request")
    ).value
    done, certificate = completed.request, completed.certificate
    assert certificate is not None and certificate.request_id == str(request.id)
    assert done.erasure_id == certificate.erasure_id
    with pytest.raises(SubjectErased):
        service.crm.open_contact(service.crm.contact(tenant_id, contact_id), WITNESS)
    service.runner.catch_up()
    [row] = find_requests(service.read_models, tenant_id, request_id=request.id)
    assert row["status"] == "done" and row["erasure_id"] == certificate.erasure_id


def test_erasure_blanks_every_sealed_token_in_the_new_read_models(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    grant(service, tenant_id, contact_id, "third_party_linking", "third_party_sharing")
    service.service_data.record_activity(
        tenant_id, contact_id, "agent", kind="page_view", occurred_at=None, details=USAGE
    )
    service.service_data.link_account(
        tenant_id, contact_id, "agent", provider="instagram", handle=HANDLE
    )
    share_id = authorised_share(service, tenant_id, contact_id)
    service.shares.execute(
        tenant_id, share_id, "agent", access_for(service, tenant_id, "third_party_sharing")
    )
    service.runner.catch_up()
    before = every_row(service)
    assert "s1." in before
    assert all(v not in before for v in [*USAGE.values(), HANDLE, SOURCE])

    service.erasures.erase(tenant_id, contact_id, "po", "subject asked", None)
    service.runner.catch_up()
    assert "s1." not in every_row(service)
    [share] = find_shares(service.read_models, tenant_id, share_id=share_id)
    assert share["contact_erased"] == 1
    with pytest.raises(SubjectErased):
        grant(service, tenant_id, contact_id, "marketing")


def test_two_runners_racing_apply_new_projections_once(service: Service) -> None:
    tenant_id, contact_id = setup(service)
    for i in range(10):
        service.service_data.record_activity(
            tenant_id, contact_id, "agent", kind="login", occurred_at=None, details={}
        )
        service.consents.decide(
            tenant_id,
            contact_id,
            "agent",
            purpose="marketing",
            granted=i % 2 == 0,
            policy_version=None,
            source=None,
            access=access_for(service, tenant_id, "account_management"),
        )
    assert race_two_runners(service) == []
    count = service.read_models.query("SELECT COUNT(*) AS n FROM activities_view")[0]["n"]
    assert count == 10
    assert len(consent_events(service.read_models, tenant_id, contact_id)) == 10
    current = current_consents(service.read_models, tenant_id, contact_id)
    assert current["marketing"]["granted"] == 0  # the tenth decision (i = 9) withdrew


def test_a_page_leaves_out_a_subject_erased_after_its_rows_were_read(service: Service) -> None:
    tenant_id, erased_id = setup(service)
    kept = service.answer(
        service.contacts.register(tenant_id, "agent", {"full_name": "Bagus Wicaksono"})
    )
    rows = contact_rows(
        service.read_models, tenant_id, email_index=None, phone_index=None, after="", limit=10
    )
    service.erasures.erase(tenant_id, erased_id, "po", "subject asked", None)
    access = access_for(service, tenant_id, "account_management")
    page = contact_page(service.crm, tenant_id, rows, 10, access)
    assert [item["id"] for item in page.items] == [str(kept.id)]
    assert page.items[0]["full_name"] == "Bagus Wicaksono"
    assert access.subjects == [kept.id]  # the record names only what was opened
