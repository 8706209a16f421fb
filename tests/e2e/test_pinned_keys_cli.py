"""The ``crm`` checks auditors run offline verify only under a key they pin.

An unset shell variable passed through (``--public-key "$KEY"``) must not turn into
"trust whatever key the document carries": it is an error (stderr, exit 2), as is a key
that is not base64 of 32 bytes, and a document signed by anyone else does not verify.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.cli import main
from crypto.certificates import ErasureCertificate
from crypto.ledger import SignedTreeHead
from crypto.signing import Signer
from service.audit import checkpoint_now
from tests.e2e.conftest import Api, Tenant, point_the_cli_at

IMPOSTOR = Signer(b"\x05" * 32)
CERTIFICATE_FIELDS = [f.name for f in fields(ErasureCertificate)]
BAD_KEYS = ["", "not base64!", base64.b64encode(b"\x05" * 16).decode()]


@dataclass
class Audit:
    api: Api
    tenant: Tenant
    files: Path
    capsys: pytest.CaptureFixture[str]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.api.client.get(path, params=params, headers=self.tenant.auth("auditor"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def file(self, name: str, document: object) -> str:
        path = self.files / name
        path.write_bytes(orjson.dumps(document))
        return str(path)

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    @property
    def ledger_key(self) -> str:
        return self.api.service.ledger_signer.public_key


@pytest.fixture
def audit(
    api_on: Callable[..., Api],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Audit]:
    api = api_on("sqlite")
    point_the_cli_at(api.service, monkeypatch)
    tenant = api.new_tenant()
    api.new_contact(tenant)
    checkpoint_now(api.service.crm.ledger_recorder)  # a tree of many entries, not just one
    yield Audit(api, tenant, tmp_path, capsys)


def forged(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The same tree head, signed by someone else, carrying their key."""
    head = SignedTreeHead.from_dict(checkpoint).head
    return head.sign(IMPOSTOR).as_dict()


def proof_files(audit: Audit, checkpoint: dict[str, Any]) -> list[str]:
    proof = audit.get("/v1/audit/proofs/inclusion", position=1, size=checkpoint["size"])
    return [
        "--proof",
        audit.file("proof.json", proof),
        "--checkpoint",
        audit.file("checkpoint.json", checkpoint),
    ]


def test_verify_proof_passes_under_the_pinned_key(audit: Audit) -> None:
    files = proof_files(audit, audit.get("/v1/audit/checkpoints/latest"))
    code, out, _ = audit.run("audit", "verify-proof", *files, "--public-key", audit.ledger_key)
    assert (code, out.strip()) == (0, "proof verified")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_verify_proof_without_a_usable_key_is_an_error(audit: Audit, key: str) -> None:
    files = proof_files(audit, forged(audit.get("/v1/audit/checkpoints/latest")))
    code, out, err = audit.run("audit", "verify-proof", *files, "--public-key", key)
    assert code == 2 and "proof verified" not in out
    assert err.startswith("crm: error:") and "public key" in err and "Traceback" not in err


def test_a_checkpoint_signed_by_anyone_else_does_not_verify(audit: Audit) -> None:
    files = proof_files(audit, forged(audit.get("/v1/audit/checkpoints/latest")))
    code, out, _ = audit.run("audit", "verify-proof", *files, "--public-key", audit.ledger_key)
    assert (code, out.strip()) == (1, "proof does NOT verify")


def test_verify_proof_refuses_a_hash_of_the_wrong_length(audit: Audit) -> None:
    checkpoint = audit.get("/v1/audit/checkpoints/latest")
    proof = audit.get("/v1/audit/proofs/inclusion", position=1, size=checkpoint["size"])
    proof["audit_path"][0] = proof["audit_path"][0][:-2]  # 31 bytes
    args = ["--proof", audit.file("short.json", proof)]
    args += ["--checkpoint", audit.file("cp.json", checkpoint), "--public-key", audit.ledger_key]
    code, _, err = audit.run("audit", "verify-proof", *args)
    assert code == 2 and "audit_path[0]" in err and "64 hex" in err


@pytest.mark.parametrize("key", BAD_KEYS)
def test_verify_of_a_bundle_needs_a_usable_key(audit: Audit, key: str) -> None:
    bundle = str(audit.files / "ledger.jsonl")
    assert audit.run("audit", "export", bundle)[0] == 0
    code, out, err = audit.run("audit", "verify", "--bundle", bundle, "--public-key", key)
    assert code == 2 and out == "" and err.startswith("crm: error:")


def test_verify_of_the_live_store_says_which_key_it_trusted(audit: Audit) -> None:
    code, out, err = audit.run("audit", "verify")
    assert code == 0 and "service's own ledger key" in err
    verdict = orjson.loads(out)
    assert verdict["ok"] is True
    assert verdict["trusted_key"] == {"public_key": audit.ledger_key, "source": "service"}
    code, out, _ = audit.run("audit", "verify", "--public-key", audit.ledger_key)
    assert code == 0 and orjson.loads(out)["trusted_key"]["source"] == "pinned"
    code, _, err = audit.run("audit", "verify", "--public-key", "")
    assert code == 2 and "public key" in err
    code, out, _ = audit.run("audit", "verify", "--public-key", IMPOSTOR.public_key)
    assert code == 1 and orjson.loads(out)["ok"] is False


def erased_certificate(audit: Audit) -> dict[str, Any]:
    contact = audit.api.new_contact(audit.tenant, full_name="Dihapus")
    response = audit.api.client.post(
        f"/v1/contacts/{contact['id']}/erasure",
        json={"reason": "data-subject request"},
        headers=audit.tenant.auth("privacy_officer"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_certificate_verifies_only_under_the_pinned_key(audit: Audit) -> None:
    certificate = erased_certificate(audit)
    key = audit.api.service.signer.public_key
    path = audit.file("cert.json", certificate)
    assert audit.run("erasures", "verify-certificate", path, "--public-key", key)[0] == 0
    fields = {name: certificate[name] for name in CERTIFICATE_FIELDS}
    fake = ErasureCertificate(**{**fields, "subject_id": "someone-else"}).signed(IMPOSTOR)
    code, out, _ = audit.run(
        "erasures", "verify-certificate", audit.file("fake.json", fake), "--public-key", key
    )
    assert (code, out.strip()) == (1, "certificate does NOT verify")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_certificate_without_a_usable_key_is_an_error(audit: Audit, key: str) -> None:
    path = audit.file("cert.json", erased_certificate(audit))
    code, out, err = audit.run("erasures", "verify-certificate", path, "--public-key", key)
    assert code == 2 and out == "" and err.startswith("crm: error:")


def test_a_certificate_check_with_no_key_at_all_is_a_usage_error(audit: Audit) -> None:
    path = audit.file("cert.json", erased_certificate(audit))
    with pytest.raises(SystemExit) as exit_:
        main(["erasures", "verify-certificate", path])
    assert exit_.value.code == 2
    assert "--public-key" in audit.capsys.readouterr().err


def test_the_keys_to_pin_are_printed_by_the_operator(audit: Audit) -> None:
    code, out, _ = audit.run("keys", "public")
    assert code == 0 and orjson.loads(out) == {
        "ledger_public_key": audit.ledger_key,
        "certificate_public_key": audit.api.service.signer.public_key,
    }


def _without_event_hash(line: bytes) -> bytes:
    record = orjson.loads(line)
    del record["event_hash"]
    return orjson.dumps(record)


def _position_as_text(line: bytes) -> bytes:
    return orjson.dumps({**orjson.loads(line), "position": "x"})


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_without_event_hash, "no 'event_hash'"),
        (_position_as_text, "ValueError"),
        (lambda line: line[: len(line) // 2], "JSONDecodeError"),
    ],
    ids=["missing-field", "not-a-number", "cut-short"],
)
def test_a_damaged_bundle_line_is_named_and_fails_the_command(
    audit: Audit, edit: Any, named: str
) -> None:
    bundle = audit.files / "ledger.jsonl"
    assert audit.run("audit", "export", str(bundle))[0] == 0
    lines = bundle.read_bytes().splitlines()
    entry = next(i for i, line in enumerate(lines) if b'"kind":"entry"' in line)
    lines[entry] = edit(lines[entry])
    bundle.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = audit.run(
        "audit", "verify", "--bundle", str(bundle), "--public-key", audit.ledger_key
    )
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"bundle line {entry + 1}: not a well-formed" in err and named in err
