"""The portability package (UU PDP Pasal 13) of a subject set up over HTTP: its JSON, CSV and
vCard parts read back with parsers the project did not write, its signature holds only
under the pinned certificate key, and ``crm portability verify`` says so offline."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
import vobject

from api.cli import main
from crypto.certificates import ErasureCertificate
from crypto.signing import Signer, public_key_fingerprint
from domain.errors import SubjectErased
from service.disclosure import AccessLog
from service.portability import (
    TABLES,
    MalformedPackage,
    portability_package,
    signed_bytes,
    verify_package,
)
from tests.e2e.conftest import Api, Tenant
from tests.witness import access_for

IMPOSTOR = Signer(b"\x07" * 32)
SITI = {
    "full_name": "Siti Nurhaliza, S.E.; Rahmawati",
    "email": "siti.rahmawati@contoh.co.id",
    "phone": "0813-2222-4444",
    "company": "PT Teh Wangi; Cabang Bandung, Tbk",
    "job_title": "Direktur \\ Pemasaran",
}
CONSENTS = ("marketing", "third_party_linking", "third_party_sharing")


@dataclass
class Subject:
    api: Api
    tenant: Tenant
    contact: dict[str, Any]

    @property
    def tenant_id(self) -> UUID:
        return UUID(self.tenant.id)

    @property
    def id(self) -> UUID:
        return UUID(self.contact["id"])

    def access(self) -> AccessLog:
        return access_for(
            self.api.service, self.tenant_id, "subject_request", role="privacy_officer"
        )

    def package(self, access: AccessLog | None = None) -> dict[str, Any]:
        service = self.api.service
        return portability_package(
            service.crm,
            service.read_models,
            self.tenant_id,
            self.id,
            access or self.access(),
            service.signer,
        )

    @property
    def pinned_key(self) -> str:
        return self.api.service.signer.public_key


@pytest.fixture
def subject(api_on: Callable[..., Api]) -> Subject:
    api = api_on("sqlite")
    tenant = api.new_tenant()
    contact = api.new_contact(tenant, **SITI)
    agent = tenant.auth("agent")
    for purpose in CONSENTS:
        granted = api.client.post(
            f"/v1/contacts/{contact['id']}/consents",
            json={"purpose": purpose, "granted": True, "source": "formulir web, halaman 2"},
            headers=agent,
        )
        assert granted.status_code == 201, granted.text
    for detail in ("tanya harga grosir; 10 kardus", 'minta katalog, "edisi" 2026'):
        recorded = api.client.post(
            f"/v1/contacts/{contact['id']}/activities",
            json={"kind": "message_sent", "ip": "203.0.113.9", "detail": detail},
            headers=agent,
        )
        assert recorded.status_code == 201, recorded.text
    share_with_a_courier(api, tenant, contact["id"])
    linked = api.client.post(
        f"/v1/contacts/{contact['id']}/linked-accounts",
        json={"provider": "instagram", "handle": "siti.tehwangi"},
        headers=agent,
    )
    assert linked.status_code == 201, linked.text
    asked = api.client.post(
        "/v1/requests",
        json={"contact_id": contact["id"], "kind": "access", "requested_by": "subject"},
        headers=tenant.auth("privacy_officer"),
    )
    assert asked.status_code == 201, asked.text
    return Subject(api, tenant, contact)


def share_with_a_courier(api: Api, tenant: Tenant, contact_id: str) -> None:
    body = {
        "contact_id": contact_id,
        "recipient": "PT Ekspedisi Nusantara",
        "purpose": "support",
        "fields": ["email", "phone"],
    }
    share = api.client.post("/v1/shares", json=body, headers=tenant.auth("agent")).json()
    for name, role, step in [
        ("approve", "pic", None),
        ("authorize", "admin", {"agreement_ref": "PKS-7"}),
        ("execute", "agent", None),
    ]:
        done = api.client.post(
            f"/v1/shares/{share['id']}/{name}", json=step, headers=tenant.auth(role)
        )
        assert done.status_code == 200, done.text


def table(package: dict[str, Any], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(package["csv"][name], newline="")))


def test_the_package_holds_the_export_less_the_processing_trail(subject: Subject) -> None:
    package = subject.package()
    assert list(package) == [
        "format",
        "subject_id",
        "tenant_id",
        "generated_at",
        "json",
        "csv",
        "vcard",
        "signature",
    ]
    assert package["format"] == "crm.portability.v1"
    assert (package["subject_id"], package["tenant_id"]) == (str(subject.id), subject.tenant.id)
    data = package["json"]
    assert "processing" not in data
    assert data["contact"]["email"] == SITI["email"]
    assert data["contact"]["phone"] == "+6281322224444"
    assert [a["detail"] for a in data["activities"]] == [
        "tanya harga grosir; 10 kardus",
        'minta katalog, "edisi" 2026',
    ]
    assert package["generated_at"] == data["generated_at"]


def test_every_value_was_opened_through_the_requests_access_log(subject: Subject) -> None:
    access = subject.access()
    subject.package(access)
    record = access.record()
    assert record is not None and record.purpose == "subject_request"
    assert record.subject_ids == [str(subject.id)]
    assert {*SITI, "detail", "source", "handle"} <= access.fields[subject.id]


def test_the_vcard_reads_back_with_the_contacts_values(subject: Subject) -> None:
    card = vobject.readOne(subject.package()["vcard"])
    assert card.version.value == "4.0"
    assert card.fn.value == SITI["full_name"]
    assert card.email.value == SITI["email"]
    assert card.tel.value == "+6281322224444"
    assert card.org.value == [SITI["company"]]
    assert card.title.value == SITI["job_title"]


def test_the_csv_parts_parse_and_hold_the_consents(subject: Subject) -> None:
    package = subject.package()
    current = {row["purpose"]: row["granted"] for row in table(package, "consents.csv")}
    assert {p for p, granted in current.items() if granted == "true"} == set(CONSENTS)
    history = table(package, "consent_history.csv")
    assert [(row["purpose"], row["granted"], row["source"]) for row in history] == [
        (purpose, "true", "formulir web, halaman 2") for purpose in CONSENTS
    ]
    [contact] = table(package, "contact.csv")
    assert {field: contact[field] for field in SITI} == {**SITI, "phone": "+6281322224444"}
    details = [row["detail"] for row in table(package, "activities.csv")]
    assert details == [a["detail"] for a in package["json"]["activities"]]


def test_every_table_is_in_the_csv_with_every_column(subject: Subject) -> None:
    package = subject.package()
    data, consents = package["json"], package["json"]["consents"]
    rows = {
        "contact.csv": [data["contact"]],
        "history.csv": data["history"],
        "consents.csv": consents["current"],
        "consent_history.csv": consents["history"],
        "policy_acceptances.csv": consents["policy_acceptances"],
        "activities.csv": data["activities"],
        "linked_accounts.csv": data["linked_accounts"],
        "shares.csv": data["shares"],
        "requests.csv": data["requests"],
    }
    assert set(package["csv"]) == set(rows) == set(TABLES)
    for name, columns in TABLES.items():
        parsed = table(package, name)
        header = next(csv.reader(io.StringIO(package["csv"][name])))
        assert header[: len(columns)] == list(columns), name
        assert set(header) == set(columns).union(*rows[name]), name
        assert len(parsed) == len(rows[name]), name
    [share] = table(package, "shares.csv")
    assert orjson.loads(share["shared"]) == {"email": SITI["email"], "phone": "+6281322224444"}


def test_the_signature_holds_under_the_pinned_certificate_key(subject: Subject) -> None:
    package = subject.package()
    assert package["signature"]["algorithm"] == "Ed25519"
    assert package["signature"]["key_fingerprint"] == public_key_fingerprint(subject.pinned_key)
    assert verify_package(orjson.loads(orjson.dumps(package)), subject.pinned_key)
    assert not verify_package(package, IMPOSTOR.public_key)


def one_byte_changes(raw: bytes, keep: range) -> Iterator[tuple[int, bytes]]:
    """Each ASCII letter's case swapped, each digit changed, one at a time (outside
    ``keep``): every change that still parses as JSON, with where it was made."""
    for at, byte in enumerate(raw):
        if at in keep or not (byte < 0x80 and chr(byte).isalnum()):
            continue
        changed = bytearray(raw)
        changed[at] = byte ^ (0x20 if chr(byte).isalpha() else 0x01)
        yield at, bytes(changed)


def test_changing_any_one_byte_breaks_the_signature(subject: Subject) -> None:
    package = subject.package()
    raw, value = orjson.dumps(package), package["signature"]["value"].encode()
    start = raw.index(value)
    checked = 0
    for at, changed in one_byte_changes(raw, range(start, start + len(value))):
        try:
            document = orjson.loads(changed)
        except orjson.JSONDecodeError:
            continue  # no longer a JSON document at all
        try:
            verified = verify_package(document, subject.pinned_key)
        except MalformedPackage:
            verified = False
        assert not verified, f"a change at byte {at} still verifies"
        checked += 1
    assert checked > len(raw) // 2


def test_a_package_signed_by_anyone_else_does_not_verify(subject: Subject) -> None:
    package = subject.package()
    impostor = public_key_fingerprint(IMPOSTOR.public_key)
    theirs = {"algorithm": "Ed25519", "key_fingerprint": impostor}
    unsigned = {**package, "signature": theirs}
    forged = {**package, "signature": {**theirs, "value": IMPOSTOR.sign(signed_bytes(unsigned))}}
    assert verify_package(forged, IMPOSTOR.public_key)  # it holds only for its own key
    assert not verify_package(forged, subject.pinned_key)


def test_no_package_once_the_subject_is_erased(subject: Subject) -> None:
    erased = subject.api.client.post(
        f"/v1/contacts/{subject.id}/erasure",
        json={"reason": "data-subject request"},
        headers=subject.tenant.auth("privacy_officer"),
    )
    assert erased.status_code == 200, erased.text
    with pytest.raises(SubjectErased):
        subject.package()


@dataclass
class Cli:
    files: Path
    capsys: pytest.CaptureFixture[str]

    def file(self, name: str, content: bytes) -> str:
        path = self.files / name
        path.write_bytes(content)
        return str(path)

    def verify(self, package: str, key: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["portability", "verify", "--package", package, "--public-key", key])
        out, err = self.capsys.readouterr()
        return code, out.strip(), err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Offline: no CRM_* settings, no store; the package files live in ``tmp_path``."""
    return Cli(tmp_path, capsys)


def test_the_cli_verifies_a_package_under_the_pinned_key(subject: Subject, cli: Cli) -> None:
    path = cli.file("package.json", orjson.dumps(subject.package(), option=orjson.OPT_INDENT_2))
    assert cli.verify(path, subject.pinned_key) == (0, "package verified", "")


def test_the_cli_refuses_a_tampered_package(subject: Subject, cli: Cli) -> None:
    raw = orjson.dumps(subject.package())
    path = cli.file("tampered.json", raw.replace(b"Pemasaran", b"Pemasaram", 1))
    code, out, err = cli.verify(path, subject.pinned_key)
    assert (code, out, err) == (1, "package does NOT verify", "")


def test_the_cli_names_the_other_key_a_package_was_signed_with(subject: Subject, cli: Cli) -> None:
    path = cli.file("package.json", orjson.dumps(subject.package()))
    code, out, err = cli.verify(path, IMPOSTOR.public_key)
    assert (code, out) == (1, "package does NOT verify")
    assert public_key_fingerprint(subject.pinned_key) in err and "pinned key" in err


def malformed_files(package: dict[str, Any]) -> dict[str, bytes]:
    certificate = ErasureCertificate("e", "t", "s", "k", "now", "po", None, 1).signed(IMPOSTOR)
    unsigned = {key: value for key, value in package.items() if key != "signature"}
    return {
        "not JSON": b"BEGIN:VCARD\r\n",
        "truncated": orjson.dumps(package)[:-10],
        "a list": b"[1, 2]",
        "an erasure certificate": orjson.dumps(certificate),
        "no signature": orjson.dumps(unsigned),
        "a signature that is a string": orjson.dumps({**package, "signature": "abc"}),
    }


def test_the_cli_says_what_is_wrong_with_a_malformed_file(subject: Subject, cli: Cli) -> None:
    for what, content in malformed_files(subject.package()).items():
        code, out, err = cli.verify(cli.file("bad.json", content), subject.pinned_key)
        assert code == 2 and out == "", what
        assert err.startswith("crm: error:") and "Traceback" not in err, what
    code, _, err = cli.verify(str(cli.files / "missing.json"), subject.pinned_key)
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize("key", ["", "not base64!", "AAAA"])
def test_the_cli_needs_a_usable_pinned_key(subject: Subject, cli: Cli, key: str) -> None:
    path = cli.file("package.json", orjson.dumps(subject.package()))
    code, out, err = cli.verify(path, key)
    assert code == 2 and out == "" and "certificate public key" in err
