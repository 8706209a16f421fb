"""The Compose deployment keeps its keys across container recreates (issue 11).

``docker-compose.yml``, the ``Dockerfile`` and the scripts in ``deploy/`` are read as data
and held to the rules a ``docker compose up --build`` must survive: every CRM container reads
every key from the same mounted secret, never makes one of its own, logs in to PostgreSQL
without a password in its environment, and pins what it runs. No Docker engine is needed;
``deploy/init-secrets.sh`` runs into a temporary directory.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
import stat
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import uvicorn
import yaml
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from crypto.kek import decode_key
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS_DIR = PurePosixPath("/run/secrets")
CRM_UID, PG_UID = 10001, 999
# The CRM services the issue names; found by the image they run, this only guards the finder.
EXPECTED_CRM_SERVICES = {"init", "api", "projections", "relay", "projections-from-kafka"}

Service = dict[str, Any]


# --- reading the files ----------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``, as
    ``docker compose config`` applies them."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and not current)
        if op is None:
            return current or ""
        if op.endswith("-"):
            return arg if unset else str(current)
        if op.endswith("?"):
            if unset:
                raise LookupError(f"${{{name}}} is required: {arg}")
            return str(current)
        return "" if unset else arg

    return _VARIABLE.sub(value, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


@cache
def compose() -> dict[str, Any]:
    """The compose file as a fresh clone gets it: anchors merged, no variable set."""
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    interpolated: dict[str, Any] = _interpolated(document, {})
    return interpolated


def services() -> dict[str, Service]:
    found: dict[str, Service] = compose()["services"]
    return found


def built_image() -> str:
    builders = [s["image"] for s in services().values() if "build" in s]
    assert len(builders) == 1, "exactly one service builds the image the CRM services share"
    return builders[0]


def crm_services() -> dict[str, Service]:
    """Every service running the service image: each one reads the keys."""
    return {name: s for name, s in services().items() if s.get("image") == built_image()}


def environment(service: Service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounted_secrets(service: Service) -> dict[PurePosixPath, str]:
    """Where each secret the service lists appears in its container: path -> secret name."""
    mounted = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        mounted[SECRETS_DIR / target] = source  # an absolute target replaces the directory
    return mounted


def named_volume_mounts(service: Service) -> dict[PurePosixPath, str]:
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = (
            entry.split(":")[:2] if isinstance(entry, str) else (entry["source"], entry["target"])
        )
        if source in (compose().get("volumes") or {}):
            mounts[PurePosixPath(target)] = source
    return mounts


def key_source(service: Service, variable: str) -> str:
    """The secret or named volume a key file comes from; fails when neither holds it."""
    env = environment(service)
    assert variable not in env, f"{variable} set inline: it wins over the file"
    assert f"{variable}_FILE" in env, f"{variable}_FILE unset: the service would make a key"
    path = PurePosixPath(env[f"{variable}_FILE"])
    if path in mounted_secrets(service):
        return "secret " + mounted_secrets(service)[path]
    for target, volume in named_volume_mounts(service).items():
        if path.is_relative_to(target):
            return f"volume {volume}:{path.relative_to(target)}"
    raise AssertionError(f"{variable}_FILE={path} is neither a mounted secret nor on a volume")


class _ReadRecorder(Mapping[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@cache
def settings_variables() -> frozenset[str]:
    """Every variable ``Settings.from_env`` reads, asked of the code rather than a list."""
    recorder = _ReadRecorder()
    Settings.from_env(recorder)
    return frozenset(recorder.read)


def key_variables() -> set[str]:
    """The keys and secrets: every setting that has both an inline and a ``_FILE`` form."""
    keys = {name for name in settings_variables() if f"{name}_FILE" in settings_variables()}
    assert {"CRM_KEK", "CRM_LEDGER_SIGNING_KEY", "CRM_API_SECRET"} <= keys
    return keys


def image_reference(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of ``name[:tag][@sha256:digest]``."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    name = name.removesuffix(f":{tag}") if tag else name
    return name, tag, digest or None


# Debian-based official images float across Debian releases under a bare version tag.
DEBIAN_IMAGES = {"postgres", "python"}
EXACT_TAG = re.compile(r"^\d+\.\d+(\.\d+)?(-[a-z0-9]+)*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def assert_pinned(image: str) -> None:
    name, tag, digest = image_reference(image)
    assert tag not in (None, "latest"), f"{image}: no tag is :latest"
    assert tag is not None and EXACT_TAG.match(tag), f"{image}: not an exact version"
    assert digest is None or DIGEST.match(digest), f"{image}: malformed digest"
    if name.rsplit("/", 1)[-1] in DEBIAN_IMAGES:
        assert re.search(r"-(bookworm|trixie)$", tag), f"{image}: name the Debian release"


# --- keys -----------------------------------------------------------------------------------


def test_the_services_that_read_keys_are_the_ones_running_the_service_image() -> None:
    assert set(crm_services()) >= EXPECTED_CRM_SERVICES


@pytest.mark.parametrize("name", sorted(EXPECTED_CRM_SERVICES))
def test_every_crm_service_reads_every_key_from_a_secret_or_volume(name: str) -> None:
    service = crm_services()[name]
    for variable in key_variables():
        key_source(service, variable)


def test_every_crm_service_reads_each_key_from_the_same_secret() -> None:
    for variable in key_variables():
        sources = {name: key_source(s, variable) for name, s in crm_services().items()}
        assert len(set(sources.values())) == 1, f"{variable} differs: {sources}"


def test_crm_containers_cannot_write_a_key_of_their_own() -> None:
    # Read-only file system: a key file that is not mounted stops the service instead of
    # being generated inside the container (and lost with it). Only /tmp is writable.
    for name, service in crm_services().items():
        assert service.get("read_only") is True, name
        assert service.get("tmpfs") == ["/tmp"], name


def test_every_secret_is_a_file_in_the_ignored_secrets_directory() -> None:
    for name, secret in compose()["secrets"].items():
        assert PurePosixPath(secret["file"]).parent == PurePosixPath("secrets"), name
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()


def test_every_listed_secret_is_defined() -> None:
    defined = set(compose()["secrets"])
    for name, service in services().items():
        assert set(mounted_secrets(service).values()) <= defined, name


# --- images ---------------------------------------------------------------------------------


def test_every_pulled_image_is_pinned_to_an_exact_version() -> None:
    for service in services().values():
        if service.get("image") != built_image():
            assert_pinned(service["image"])


def test_the_built_image_is_tagged_with_the_project_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image_reference(built_image())[1] == version


def test_services_running_the_built_image_never_pull_it() -> None:
    for name, service in crm_services().items():
        assert service.get("pull_policy") == "build", name


def test_dockerfile_base_images_are_pinned() -> None:
    text = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    images = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        for image in re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    ]
    assert images
    for image in images:
        assert_pinned(image)


def test_the_image_user_owns_the_key_files_the_secrets_script_makes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    script = (ROOT / "deploy" / "init-secrets.sh").read_text()
    assert re.search(rf"useradd .*--uid {CRM_UID} ", dockerfile)
    assert f"crm_uid=${{CRM_UID:-{CRM_UID}}}" in script
    assert f"pg_uid=${{PG_UID:-{PG_UID}}}" in script


# --- PostgreSQL -----------------------------------------------------------------------------


def postgres() -> Service:
    return services()["postgres"]


def test_no_service_has_a_database_password_in_its_environment() -> None:
    for name, service in services().items():
        env = environment(service)
        assert "POSTGRES_PASSWORD" not in env, name
        assert "PGPASSWORD" not in env, name
        for variable, value in env.items():
            if variable.endswith("_URL"):
                assert urlparse(value).password is None, f"{name}: {variable}"


def test_postgres_reads_its_superuser_password_from_a_secret() -> None:
    path = PurePosixPath(environment(postgres())["POSTGRES_PASSWORD_FILE"])
    assert path in mounted_secrets(postgres())


def test_crm_services_read_database_passwords_from_a_mounted_pgpass_file() -> None:
    for name, service in crm_services().items():
        assert PurePosixPath(environment(service)["PGPASSFILE"]) in mounted_secrets(service), name


def test_event_store_and_keystore_log_in_as_different_roles_to_different_databases() -> None:
    for name, service in crm_services().items():
        env = environment(service)
        events, keys = urlparse(env["CRM_DATABASE_URL"]), urlparse(env["CRM_KEYSTORE_URL"])
        assert events.username != keys.username, name
        assert events.path != keys.path, name


def test_postgres_creates_the_roles_with_the_passwords_it_is_given() -> None:
    script = ROOT / "deploy" / "postgres" / "10-roles.sh"
    mounts = {PurePosixPath(v.split(":")[1]): v.split(":")[0] for v in postgres()["volumes"]}
    assert mounts[PurePosixPath("/docker-entrypoint-initdb.d/10-roles.sh")] == (
        "./deploy/postgres/10-roles.sh"
    )
    assert os.access(script, os.X_OK), "the image runs executable scripts, sources the others"
    read = set(re.findall(r"\b(pg_\w+_password)\b", script.read_text()))
    assert read
    assert read <= set(mounted_secrets(postgres()).values())


def test_postgres_init_script_stops_when_a_password_secret_is_missing(tmp_path: Path) -> None:
    script = ROOT / "deploy" / "postgres" / "10-roles.sh"
    env = {**os.environ, "CRM_POSTGRES_SECRETS": str(tmp_path)}
    done = subprocess.run([script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "pg_crm_events_password is missing" in done.stderr


# --- configuration drift --------------------------------------------------------------------


def test_compose_sets_only_crm_variables_the_service_reads() -> None:
    for name, service in crm_services().items():
        unknown = {v for v in environment(service) if v.startswith("CRM_")} - settings_variables()
        assert not unknown, f"{name} sets variables service/settings.py never reads: {unknown}"


def test_compose_needs_no_variable_from_the_environment() -> None:
    # A fresh clone has no .env: every ${...} has a default, none is required or left blank.
    for match in _VARIABLE.finditer((ROOT / "docker-compose.yml").read_text()):
        if match.group(0) != "$$":
            assert (match.group("op") or "").endswith("-"), f"{match.group(0)} has no default"


# --- client addresses behind Docker's bridge ------------------------------------------------


def api_services() -> dict[str, Service]:
    return {n: s for n, s in crm_services().items() if s.get("command", [None])[0] == "serve"}


def test_the_api_trusts_forwarded_headers_from_its_own_network_only() -> None:
    subnets = [c["subnet"] for c in compose()["networks"]["default"]["ipam"]["config"]]
    assert api_services()
    for name, service in api_services().items():
        trusted = environment(service)["FORWARDED_ALLOW_IPS"]
        assert trusted.split(",") == subnets, name
        assert all(ipaddress.ip_network(net).is_private for net in subnets)
        for port in service["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name}: published beyond the host"


def _client_seen(trusted: str, peer: str, forwarded_for: str) -> str:
    """The client address an app behind uvicorn's proxy-header handling sees."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    scope = {
        "type": "http",
        "client": (peer, 40000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
    }
    asyncio.run(ProxyHeadersMiddleware(app, trusted)(scope, None, None))
    return seen[0]


def test_uvicorn_takes_the_client_from_x_forwarded_for_sent_through_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `crm serve` runs uvicorn.run without forwarded_allow_ips, so uvicorn reads the variable.
    trusted = environment(next(iter(api_services().values())))["FORWARDED_ALLOW_IPS"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
    config = uvicorn.Config(app=lambda *_: None)
    assert config.proxy_headers
    assert config.forwarded_allow_ips == trusted
    gateway = str(next(ipaddress.ip_network(trusted).hosts()))
    assert _client_seen(trusted, gateway, "203.0.113.7") == "203.0.113.7"
    assert _client_seen(trusted, "198.51.100.9", "203.0.113.7") == "198.51.100.9"


# --- deploy/init-secrets.sh -----------------------------------------------------------------


def run_init_secrets(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the script as the README says; as root it hands files to the containers' uids,
    otherwise (a developer's machine) to the caller."""
    env = dict(os.environ)
    if os.geteuid() != 0:
        env.update(CRM_UID=str(os.geteuid()), PG_UID=str(os.geteuid()))
    script = ROOT / "deploy" / "init-secrets.sh"
    return subprocess.run(
        [script, str(directory)], env=env, capture_output=True, text=True, check=False
    )


def expected_owners() -> dict[str, int]:
    """Secrets file name -> the uid that must own it: the one container user reading it."""
    root = os.geteuid() == 0
    crm_uid, pg_uid = (CRM_UID, PG_UID) if root else (os.geteuid(), os.geteuid())
    owners: dict[str, set[int]] = {}
    for name, service in services().items():
        uid = pg_uid if name == "postgres" else crm_uid
        for secret in mounted_secrets(service).values():
            owners.setdefault(Path(compose()["secrets"][secret]["file"]).name, set()).add(uid)
    for file, uids in owners.items():
        assert len(uids) == 1, f"{file} is read by two container users: {uids}"
    return {file: uids.pop() for file, uids in owners.items()}


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    done = run_init_secrets(directory)
    assert done.returncode == 0, done.stderr
    return directory


def test_init_secrets_creates_every_mounted_secret_readable_by_its_reader_only(
    secrets_dir: Path,
) -> None:
    for file, uid in expected_owners().items():
        info = (secrets_dir / file).stat()
        assert info.st_size > 0, file
        assert stat.S_IMODE(info.st_mode) == 0o400, file
        assert info.st_uid == uid, file
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700


def test_init_secrets_makes_keys_the_service_accepts(secrets_dir: Path) -> None:
    api = next(iter(api_services().values()))
    for variable in key_variables():
        path = PurePosixPath(environment(api)[f"{variable}_FILE"])
        file = Path(compose()["secrets"][mounted_secrets(api)[path]]["file"]).name
        text = (secrets_dir / file).read_text()
        if variable == "CRM_ADMIN_TOKEN":
            assert text.startswith("crm_admin_") and len(text.strip()) > 40
        else:
            assert len(decode_key(text, variable)) == 32


def test_init_secrets_pgpass_logs_each_url_in_with_its_roles_password(secrets_dir: Path) -> None:
    entries = {
        tuple(line.split(":")[:4]): line.split(":", 4)[4]
        for line in (secrets_dir / "pgpass").read_text().splitlines()
    }
    urls = {
        value
        for service in crm_services().values()
        for variable, value in environment(service).items()
        if variable.endswith("_URL")
    }
    assert len(urls) >= 3
    for url in urls:
        parts = urlparse(url)
        login = (parts.hostname, str(parts.port), parts.path.lstrip("/"), parts.username)
        role_password = (secrets_dir / f"{parts.username}_password").read_text().strip()
        assert entries[login] == role_password, url


def test_init_secrets_run_again_keeps_every_secret_and_restores_modes(secrets_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    (secrets_dir / "kek").chmod(0o644)  # what `sudo chown ... && chmod 0400` used to leave
    done = run_init_secrets(secrets_dir)
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before
    assert stat.S_IMODE((secrets_dir / "kek").stat().st_mode) == 0o400


def test_init_secrets_never_replaces_a_key_already_there(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    existing = base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n"
    (directory / "ledger_signing_key").write_text(existing)
    done = run_init_secrets(directory)
    assert done.returncode == 0, done.stderr
    assert (directory / "ledger_signing_key").read_text() == existing
    assert "kept     " + str(directory / "ledger_signing_key") in done.stdout


def test_init_secrets_refuses_a_pgpass_that_disagrees_with_the_role_passwords(
    secrets_dir: Path,
) -> None:
    pgpass = secrets_dir / "pgpass"
    pgpass.chmod(0o600)
    pgpass.write_text("postgres:5432:crm:crm_events:something-else\n")
    done = run_init_secrets(secrets_dir)
    assert done.returncode != 0
    assert "pgpass does not hold the passwords" in done.stderr
