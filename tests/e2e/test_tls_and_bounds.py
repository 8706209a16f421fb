"""The real server: HTTPS with ``--tls-cert/--tls-key``, security headers, bounded bodies."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.e2e.servers import ServerProcess, serve_process

PLATFORM = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("crm test CA"))
        .issuer_name(_name("crm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@pytest.fixture
def tls_server(
    make_settings: Callable[[str], Settings], tmp_path: Path
) -> Iterator[tuple[ServerProcess, ssl.SSLContext]]:
    ca, cert, key = make_certificates(tmp_path)
    trust = ssl.create_default_context(cafile=str(ca))
    with serve_process(
        make_settings("sqlite"),
        tmp_path / "tls.log",
        args=("--tls-cert", str(cert), "--tls-key", str(key)),
        scheme="https",
        verify=trust,
    ) as server:
        yield server, trust


def test_serves_https_with_the_given_certificate_and_security_headers(
    tls_server: tuple[ServerProcess, ssl.SSLContext],
) -> None:
    server, trust = tls_server
    with httpx.Client(base_url=server.base_url, verify=trust, timeout=10) as client:
        created = client.post("/v1/tenants", json={"name": "Toko TLS"}, headers=PLATFORM)
        assert created.status_code == 201
        health = client.get("/healthz")
    assert server.base_url.startswith("https://")
    for response in (created, health):
        headers = response.headers
        assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert len(headers["x-request-id"]) == 32


def test_an_untrusted_client_cannot_talk_to_the_tls_server(
    tls_server: tuple[ServerProcess, ssl.SSLContext],
) -> None:
    server, _ = tls_server
    with (
        httpx.Client(base_url=server.base_url, timeout=5) as default_trust,
        pytest.raises(httpx.ConnectError),
    ):
        default_trust.get("/healthz")  # the test CA is not in the system's trust store
    plain = server.base_url.replace("https://", "http://")
    with (
        httpx.Client(base_url=plain, timeout=5) as cleartext,
        pytest.raises(httpx.TransportError),
    ):
        cleartext.get("/healthz")  # TLS only: no cleartext answers on the same port


@pytest.fixture
def small_body_server(
    make_settings: Callable[[str], Settings], tmp_path: Path
) -> Iterator[ServerProcess]:
    with serve_process(
        make_settings("sqlite"), tmp_path / "body.log", env={"CRM_MAX_BODY_BYTES": "2048"}
    ) as server:
        yield server


def chunks(total: int, size: int = 512) -> Iterator[bytes]:
    body = b'{"name": "' + b"x" * (total - 12) + b'"}'
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_body_without_content_length_is_bounded_too(
    small_body_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=small_body_server.base_url, timeout=10) as client:
        response = client.post(
            "/v1/tenants",
            content=chunks(200_000),
            headers={**PLATFORM, "content-type": "application/json"},
        )
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413
        # A chunked body within the bound is served as usual.
        small = client.post(
            "/v1/tenants",
            content=chunks(100, size=30),
            headers={**PLATFORM, "content-type": "application/json"},
        )
        assert small.status_code == 201, small.text


def test_declared_length_over_the_bound_is_refused_before_reading(
    small_body_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=small_body_server.base_url, timeout=10) as client:
        response = client.post(
            "/v1/tenants",
            content=b"{" + b" " * 4096 + b"}",
            headers={**PLATFORM, "content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["strict-transport-security"]
