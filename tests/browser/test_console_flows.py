"""The console's flows in headless Chromium against a real ``crm serve``: sign in and out,
a request worked to done, a subject's story and export, erasure with its certificate
checked in the browser, the auditor's proofs checked in the browser, tampered answers
shown as failed, and a hostile contact name shown as text."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import VIEWER_ZONE, wrong_key
from tests.browser.console import PHONE, Console
from tests.browser.proxy import TamperingProxy, flip_first_hash_digit
from tests.browser.world import PASSWORD, XSS_NAME, Tenant, World


def downloaded(folder: Path, prefix: str, deadline_seconds: float = 15) -> Any:
    """The JSON of the first finished download named ``prefix*``, polled with a deadline."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"{prefix}*.json") if p.stat().st_size]
        if done:
            document = json.loads(done[0].read_text())
            done[0].unlink()  # personal values of the fixture: not left on disk
            return document
        time.sleep(0.05)
    raise AssertionError(f"no download {prefix}* in {folder}")


def local_time(utc: str, milliseconds: int = 0) -> str:
    """A ``datetime-local`` value in the browser's zone, ``milliseconds`` after ``utc``."""
    moment = datetime.fromisoformat(utc).astimezone(ZoneInfo(VIEWER_ZONE))
    moment += timedelta(milliseconds=milliseconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def sign_in_officer(console: Console, tenant: Tenant) -> None:
    console.sign_in_with_password(tenant.id, tenant.emails["privacy_officer"], PASSWORD)


def test_sign_in_keeps_the_token_in_this_tab_only_and_sign_out_forgets_it(
    console: Console, tenant: Tenant
) -> None:
    console.screenshot("signin")
    sign_in_officer(console, tenant)
    stored = console.storage("session")["crm.console.session"]
    token = json.loads(stored)["token"]
    assert json.loads(stored)["role"] == "privacy_officer"
    assert console.storage("local") == {}
    assert token not in console.driver.current_url
    assert "#/queue" in console.driver.current_url

    console.click("[data-action=sign-out]")
    assert "this tab has forgotten the token" in console.text("#view .warning")
    assert "crm.console.session" not in console.storage("session")
    assert token not in console.driver.page_source


def test_a_wrong_password_is_refused_and_a_pasted_token_finds_its_role(
    console: Console, tenant: Tenant
) -> None:
    console.open("signin")
    console.type("#signin-password input[name=tenant]", tenant.id)
    console.type("#signin-password input[name=email]", tenant.emails["auditor"])
    console.type("#signin-password input[name=password]", "not-the-password-at-all")
    console.click("#signin-password button[type=submit]")
    assert "not valid" in console.text("#signin-message .error")

    console.sign_in_with_token(tenant.tokens["auditor"])
    assert "#/auditor" in console.driver.current_url
    nav = [a.get_attribute("href").split("#")[1] for a in console.all("#nav a")]
    assert nav == ["/auditor", "/queue", "/keys"]  # no subject view: no personal data


def test_a_privacy_officer_works_an_access_request_to_done(
    console: Console, tenant: Tenant, world: World, chromium: Any
) -> None:
    contact = world.contact(tenant, full_name="Sari Permata", email="sari@example.id")
    access = world.request(tenant, contact["id"], "access")
    refused = world.request(tenant, contact["id"], "rectification")
    sign_in_officer(console, tenant)
    console.state_of("#queue-list", "done")
    row = f"tr[data-request='{access['id']}']"
    assert "left" in console.text(f"{row} td[data-label=Due]")
    console.screenshot("queue")

    console.click(f"{row} [data-step=start]")
    console.find(f"tr[data-request='{access['id']}'][data-status=in_progress]")
    console.click(f"{row} [data-action=verify-identity]")
    console.click(f"{row} [data-step=verify]")
    console.find(f"{row} [data-verified=document]")
    console.click(f"{row} [data-step=complete]")
    console.find(f"tr[data-request='{access['id']}'][data-status=done]")
    console.click(f"{row} [data-action=download-export]")
    exported = downloaded(chromium.downloads, "subject-export-")
    assert exported["format"] == "crm.subject-export.v1"
    assert exported["contact"]["id"] == contact["id"]

    other = f"tr[data-request='{refused['id']}']"
    console.click(f"{other} details.reject summary")
    console.type(f"{other} [data-reason]", "identitas tidak dapat diverifikasi")
    console.click(f"{other} [data-step=reject]")
    console.find(f"tr[data-request='{refused['id']}'][data-status=rejected]")
    stored = world.call("GET", f"/v1/requests/{refused['id']}", tenant, "privacy_officer")
    assert stored["reason"] == "identitas tidak dapat diverifikasi"


def test_the_subject_view_tells_the_whole_story_and_exports_it(
    console: Console, tenant: Tenant, world: World, chromium: Any
) -> None:
    contact = world.contact(
        tenant, full_name="Budi Santoso", email="budi@example.id", phone="+6281234567890"
    )
    world.story(tenant, contact["id"])
    world.request(tenant, contact["id"], "access")
    sign_in_officer(console, tenant)
    console.open(f"subject/{contact['id']}")
    console.state_of("#subject-story", "done")
    story = console.text("#subject-story")
    for expected in ("Budi Santoso", "+6281234567890", "withdrawn", "Mitra Logistik",
                     "Executed", "Approved by the PIC", "page_view", "@contoh_subjek",
                     "Bandung", "Access"):  # fmt: skip
        assert expected in story, expected
    assert console.find("[data-trail]").get_attribute("data-trail") == "shown"
    assert "GET /v1/contacts/{contact_id}" in console.text("[data-trail]")
    console.screenshot("subject")

    console.click("#subject-story [data-action=download-export]")
    exported = downloaded(chromium.downloads, "subject-export-")
    assert exported["contact"]["full_name"] == "Budi Santoso"
    assert len(exported["shares"][0]["history"]) == 4


def test_the_subject_view_shows_the_processing_trail_the_api_records(
    console: Console, tenant: Tenant, world: World
) -> None:
    contact = world.contact(tenant, full_name="Dewi Lestari", email="dewi@example.id")
    world.call("GET", f"/v1/contacts/{contact['id']}?purpose=support", tenant, "agent")
    sign_in_officer(console, tenant)
    console.open(f"subject/{contact['id']}")
    console.state_of("#subject-story", "done")
    shown = console.text("[data-trail=shown]")
    assert "Support" in shown and "GET /v1/contacts/{contact_id}" in shown
    assert "Email" in shown and "Agent" in shown


def test_erasure_certificate_verifies_with_the_pinned_key_and_fails_with_another(
    console: Console, tenant: Tenant, world: World
) -> None:
    doomed = world.contact(tenant, full_name="Rina Wijaya", email="rina@example.id")
    later = world.contact(tenant, full_name="Joko Susilo")
    sign_in_officer(console, tenant)
    console.pin_published("certificates")
    console.screenshot("keys")

    console.open(f"subject/{later['id']}")
    console.state_of("#subject-story", "done")
    console.type("input[name=reason]", "permintaan subjek")
    console.click("input[name=later]")
    console.type("input[name=hours]", "48")
    console.click("[data-action=erase]")
    console.click("[data-action=confirm-erasure]")
    console.find("[data-erasure-status=scheduled]")
    console.click("[data-action=cancel-erasure]")
    console.find("[data-erasure-status=cancelled]")

    console.open(f"subject/{doomed['id']}")
    console.state_of("#subject-story", "done")
    console.type("input[name=reason]", "permintaan subjek")
    console.click("[data-action=erase]")
    console.click("[data-action=confirm-erasure]")
    assert console.verdict("#erasure-outcome") == "verified"
    console.screenshot_of("#erasure-outcome", "erasure-certificate")

    console.pin_typed("certificates", wrong_key())
    console.open(f"subject/{doomed['id']}")
    assert console.state_of("#subject-story", "erased", "error") == "erased"
    console.click("#subject-story [data-erasure]")
    assert console.verdict("#erased-certificate") == "failed"
    assert "NOT" in console.text("#subject-story [data-verdict=failed]")


def _auditor_ready(console: Console, tenant: Tenant) -> None:
    console.sign_in_with_token(tenant.tokens["auditor"])
    console.pin_published("ledger")
    console.open("auditor")


def test_an_auditor_checks_proofs_in_the_browser(
    console: Console, tenant: Tenant, world: World, proxy: TamperingProxy
) -> None:
    contact = world.contact(tenant, full_name="Putri Ayu", email="putri@example.id")
    world.call("PATCH", f"/v1/contacts/{contact['id']}", tenant, "agent", job_title="Manajer")
    events = world.call("GET", f"/v1/audit/events?contact_id={contact['id']}", tenant, "auditor")
    world.covered(tenant, events["items"][-1]["position"])
    size = world.call("GET", "/v1/audit/checkpoints/latest", tenant, "auditor")["size"]
    _auditor_ready(console, tenant)

    console.click("[data-action=fetch-checkpoint]")
    console.state_of("#checkpoint-result", "done")
    assert console.verdict("#checkpoint-result") == "verified"
    console.click("[data-action=server-verify]")
    assert console.state_of("#server-verify", "ok", "bad", "error") == "ok"
    assert "server" in console.text("#server-verify").lower()

    console.type("#timeline-form input[name=contact]", contact["id"])
    console.click("#timeline-form button")
    console.state_of("#timeline-result", "done")
    timeline = console.text("#timeline-result")
    assert "sealed" in timeline and "Putri" not in timeline and "Manajer" not in timeline
    console.click(f"[data-prove='{events['items'][0]['position']}']")
    assert console.state_of("#inclusion-result", "verified", "failed", "error") == "verified"

    before_patch = local_time(contact["created_at"], milliseconds=1)
    console.driver.execute_script(
        "document.querySelector('#timeline-form input[name=asof]').value = arguments[0]",
        before_patch,
    )
    console.click("#timeline-form button")
    console.state_of("#timeline-result", "done")
    console.wait_for(lambda d: "Job title" not in d.find_element(By.ID, "timeline-result").text)
    assert "Contact.Updated" not in console.text("#timeline-result")
    personal = [p for p in proxy.paths if p.startswith(("/v1/contacts", "/v1/shares"))]
    assert personal == []  # an auditor's console never asks for personal data

    console.type("#consistency-form input[name=first]", "1")
    console.type("#consistency-form input[name=second]", str(size))
    console.click("#consistency-form button")
    assert console.state_of("#consistency-result", "verified", "failed", "error") == "verified"
    console.screenshot("auditor")


def test_tampered_proofs_and_checkpoints_are_shown_as_failed(
    console: Console, tenant: Tenant, world: World, proxy: TamperingProxy
) -> None:
    contact = world.contact(tenant, full_name="Agus Wibowo")
    position = world.call("GET", f"/v1/audit/events?contact_id={contact['id']}", tenant,
                          "auditor")["items"][0]["position"]  # fmt: skip
    world.covered(tenant, position)
    size = world.call("GET", "/v1/audit/checkpoints/latest", tenant, "auditor")["size"]
    _auditor_ready(console, tenant)

    proxy.spoil("/v1/audit/proofs/inclusion", flip_first_hash_digit(b'"audit_path":["'))
    console.type("#inclusion-form input[name=position]", str(position))
    console.click("#inclusion-form button")
    assert console.state_of("#inclusion-result", "verified", "failed", "error") == "failed"
    assert "✗" in console.text("#inclusion-result")
    console.screenshot_of("#inclusion-result", "tampered-proof")

    proxy.spoil("/v1/audit/proofs/consistency", flip_first_hash_digit(b'"proof":["'))
    console.type("#consistency-form input[name=first]", "1")
    console.type("#consistency-form input[name=second]", str(size))
    console.click("#consistency-form button")
    assert console.state_of("#consistency-result", "verified", "failed", "error") == "failed"

    proxy.spoil("/v1/audit/checkpoints/latest", flip_first_hash_digit(b'"root_hash":"'))
    console.click("[data-action=fetch-checkpoint]")
    console.state_of("#checkpoint-result", "done")
    assert console.verdict("#checkpoint-result") == "failed"
    assert proxy.tampered >= 3


def test_a_hostile_contact_name_is_shown_as_text(
    console: Console, tenant: Tenant, world: World
) -> None:
    contact = world.contact(tenant, full_name=XSS_NAME, company="<b>PT</b> & <i>Co</i>")
    sign_in_officer(console, tenant)
    console.open(f"subject/{contact['id']}")
    console.state_of("#subject-story", "done")
    assert console.text("[data-field=full_name]") == XSS_NAME
    assert console.text("[data-field=company]") == "<b>PT</b> & <i>Co</i>"
    assert console.driver.find_elements(By.CSS_SELECTOR, "img, #view b, #view i") == []
    assert not console.alert_shown()
    console.screenshot_of("#subject-story .card", "hostile-name")


def test_bahasa_indonesia_times_in_the_viewers_zone_and_a_phone_screen(
    console: Console, tenant: Tenant, world: World
) -> None:
    contact = world.contact(tenant, full_name="Wayan Sudarma")
    world.request(tenant, contact["id"], "erasure")
    sign_in_officer(console, tenant)
    console.state_of("#queue-list", "done")
    Select(console.find("#language")).select_by_value("id")
    heading = "Permintaan subjek data"
    console.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, "h1").text == heading)
    console.state_of("#queue-list", "done")
    assert console.driver.execute_script("return document.documentElement.lang") == "id"
    assert "sisa" in console.text("#queue-list")
    stamp = console.find("#queue-list time")
    assert stamp.get_attribute("title").startswith("UTC 20")
    assert stamp.get_attribute("title").endswith("Z")
    assert "WIB" in stamp.text or "GMT+7" in stamp.text  # the viewer's zone (Asia/Jakarta)

    console.as_phone()
    console.state_of("#queue-list", "done")
    width = "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    assert console.driver.execute_script(width) == [PHONE[0], PHONE[0]]  # nothing wider
    console.screenshot("queue-phone")
