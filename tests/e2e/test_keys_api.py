"""``GET /v1/keys``: the public keys auditors pin, for anyone, as ``crm keys public`` prints
them, each with the SHA-256 fingerprint of its raw bytes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import orjson
import pytest

from api.cli import main
from tests.e2e.conftest import Api, point_the_cli_at


@pytest.fixture
def api(api_on: Callable[..., Api]) -> Api:
    return api_on("sqlite")


def test_the_keys_are_public_and_carry_their_fingerprints(api: Api) -> None:
    response = api.client.get("/v1/keys")
    assert response.status_code == 200
    assert response.headers["etag"]
    body = response.json()
    assert set(body) == {"ledger", "certificates"}
    for key in body.values():
        raw = base64.b64decode(key["public_key"], validate=True)
        assert len(raw) == 32
        assert key == {
            "algorithm": "Ed25519",
            "public_key": key["public_key"],
            "fingerprint": hashlib.sha256(raw).hexdigest(),
        }
    assert body["ledger"]["public_key"] == api.service.ledger_signer.public_key
    assert body["certificates"]["public_key"] == api.service.signer.public_key
    assert body["ledger"]["fingerprint"] != body["certificates"]["fingerprint"]


def test_a_token_changes_nothing_and_an_unknown_parameter_is_refused(api: Api) -> None:
    tenant = api.new_tenant()
    anonymous = api.client.get("/v1/keys").json()
    assert api.client.get("/v1/keys", headers=tenant.auth("auditor")).json() == anonymous
    assert api.client.get("/v1/keys", headers={"Authorization": "Bearer nope"}).json() == anonymous
    assert api.client.get("/v1/keys", params={"kid": "x"}).status_code == 422


def test_the_keys_are_the_ones_crm_keys_public_prints(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    point_the_cli_at(api.service, monkeypatch)
    api.new_tenant()  # a deployment with events, as auditors meet it
    capsys.readouterr()
    assert main(["keys", "public"]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    served = api.client.get("/v1/keys").json()
    assert served["ledger"]["public_key"] == printed["ledger_public_key"]
    assert served["certificates"]["public_key"] == printed["certificate_public_key"]
