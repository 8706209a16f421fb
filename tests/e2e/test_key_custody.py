"""Missing key material is noticed at start, never replaced over existing data (invariant 14).

Each case is tried as an operator would meet it: a working deployment on the embedded
default (keys in files under the data directory), stopped, one thing lost or swapped, then
``crm serve`` started again as a real process. It must refuse, naming what is missing and
what to do, rather than start with a new key (reads that 500, searches that find nothing,
a keystore that makes everyone look erased, signatures no auditor's key verifies).
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, random_key
from tests.e2e.servers import ServerProcess, run_cli, start_server
from tests.harness import free_port

CONTACT = {"full_name": "Putu Ayu Lestari", "email": "putu.ayu@contoh.id"}


@dataclass
class Deployment:
    """A data directory that served requests: its environment, and what it holds."""

    data_dir: Path
    env: dict[str, str]
    contact_id: str
    agent: dict[str, str]

    def start(self, log: Path) -> ServerProcess:
        return start_server(self.env, log)

    def refuse(self) -> str:
        """Start ``crm serve``; it must exit non-zero at once. Returns what it said."""
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(free_port())]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stderr


def file_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Every key from its file in the data directory: no key in the environment."""
    names = ("KEK", "INDEX_KEY", "SIGNING_KEY", "LEDGER_SIGNING_KEY", "API_SECRET", "KEK_PREVIOUS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update({f"CRM_{name}": "" for name in names})
    env.update(
        {
            "CRM_DATA_DIR": str(data_dir),
            "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
            "CRM_LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
    )
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """One deployment that served requests, stopped: each test works on a copy of it."""
    root = tmp_path_factory.mktemp("served")
    data_dir = root / "var"
    server = start_server(file_env(data_dir), root / "first.log")
    try:
        client = server.client
        platform = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        tenant = client.post("/v1/tenants", json={"name": "Toko"}, headers=platform).json()
        admin = {"Authorization": f"Bearer {tenant['admin_token']}"}
        user = client.post("/v1/users", json={"full_name": "A", "role": "agent"}, headers=admin)
        agent = {"Authorization": f"Bearer {user.json()['token']}"}
        contact = client.post("/v1/contacts", json=CONTACT, headers=agent).json()
    finally:
        server.stop()
    return data_dir, contact["id"], agent


@pytest.fixture
def deployment(served: tuple[Path, str, dict[str, str]], tmp_path: Path) -> Deployment:
    original, contact_id, agent = served
    data_dir = tmp_path / "var"
    shutil.copytree(original, data_dir)  # stopped: the files (WAL included) are consistent
    return Deployment(data_dir, file_env(data_dir), contact_id, agent)


KEY_FILES = {
    "kek.key": "CRM_KEK",
    "index.key": "CRM_INDEX_KEY",
    "signing.key": "CRM_SIGNING_KEY",
    "ledger-signing.key": "CRM_LEDGER_SIGNING_KEY",
    "api.key": "CRM_API_SECRET",
}


@pytest.mark.parametrize("file", list(KEY_FILES))
def test_a_deleted_key_file_stops_the_service_and_is_never_regenerated(
    deployment: Deployment, file: str, tmp_path: Path
) -> None:
    path = deployment.data_dir / file
    saved = path.read_bytes()
    path.unlink()

    said = deployment.refuse()

    assert f"{KEY_FILES[file]}_FILE" in said and str(path) in said and "restore" in said
    assert not path.exists()
    path.write_bytes(saved)
    os.chmod(path, 0o600)
    server = deployment.start(tmp_path / "restored.log")
    try:
        found = server.client.get(
            "/v1/contacts", params={"email": CONTACT["email"]}, headers=deployment.agent
        ).json()["items"]
        assert [c["full_name"] for c in found] == [CONTACT["full_name"]]
    finally:
        server.stop()


@pytest.mark.parametrize("file", list(KEY_FILES))
def test_a_different_key_file_stops_the_service(deployment: Deployment, file: str) -> None:
    path = deployment.data_dir / file
    path.write_text(random_key() + "\n")

    said = deployment.refuse()

    assert KEY_FILES[file] in said
    assert "restore" in said


def test_a_lost_index_key_is_replaced_by_adopting_a_new_one_and_rebuilding(
    deployment: Deployment, tmp_path: Path
) -> None:
    (deployment.data_dir / "index.key").write_text(random_key() + "\n")
    assert "CRM_INDEX_KEY" in deployment.refuse()

    assert run_cli(deployment.env, "keys", "adopt", "CRM_INDEX_KEY").returncode == 0
    assert run_cli(deployment.env, "projections", "rebuild").returncode == 0

    server = deployment.start(tmp_path / "adopted.log")
    try:
        found = server.client.get(
            "/v1/contacts", params={"email": CONTACT["email"]}, headers=deployment.agent
        ).json()["items"]
        assert [c["id"] for c in found] == [deployment.contact_id]
    finally:
        server.stop()


def test_the_kek_and_the_ledger_key_cannot_be_adopted(deployment: Deployment) -> None:
    for name in ("CRM_KEK", "CRM_LEDGER_SIGNING_KEY"):
        refused = run_cli(deployment.env, "keys", "adopt", name)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_a_deleted_keystore_stops_the_service_instead_of_erasing_everyone(
    deployment: Deployment,
) -> None:
    keystore = deployment.data_dir / "keys.db"
    keystore.unlink()

    said = deployment.refuse()

    assert "CRM_KEYSTORE_URL" in said and str(keystore) in said and "restore" in said
    assert not keystore.exists()


def test_a_keystore_of_another_deployment_stops_the_service(
    deployment: Deployment, tmp_path: Path
) -> None:
    other_dir = tmp_path / "other"
    other = start_server(file_env(other_dir), tmp_path / "other.log")
    other.stop()
    replace_database(other_dir / "keys.db", deployment.data_dir / "keys.db")
    shutil.copy(other_dir / "kek.key", deployment.data_dir / "kek.key")

    said = deployment.refuse()

    assert "CRM_KEYSTORE_URL" in said


def replace_database(source: Path, target: Path) -> None:
    """Put a copy of the SQLite database ``source`` (with what its WAL holds) at ``target``."""
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    os.chmod(target, 0o600)


def test_the_readiness_check_fails_when_a_data_key_stops_unwrapping(
    deployment: Deployment, tmp_path: Path
) -> None:
    server = deployment.start(tmp_path / "serve.log")
    try:
        assert server.client.get("/readyz").status_code == 200
        with sqlite3.connect(deployment.data_dir / "keys.db") as db:
            (wrapped,) = db.execute(
                "SELECT wrapped_key FROM subject_keys ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
            broken = base64.b64encode(bytes(len(base64.b64decode(wrapped)))).decode()
            db.execute(
                "UPDATE subject_keys SET wrapped_key = ? WHERE wrapped_key = ?", (broken, wrapped)
            )

        ready = server.client.get("/readyz")

        assert ready.status_code == 503
        assert "does not unwrap" in ready.json()["detail"]
    finally:
        server.stop()


def test_every_data_file_is_private_to_the_service(
    served: tuple[Path, str, dict[str, str]],
) -> None:
    data_dir = served[0]
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir()}
    assert {"crm.db", "keys.db", *KEY_FILES} <= set(modes)  # read models live in crm.db
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def test_a_read_only_data_directory_is_named_with_its_cause(deployment: Deployment) -> None:
    """Root writes through file modes: as root the directory is bind-mounted read-only in the
    server's own mount namespace (gone with the process); otherwise its mode says so."""
    data_dir = deployment.data_dir
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(free_port())]
    if os.geteuid() == 0:
        remount = f"mount --bind {data_dir} {data_dir} && mount -o remount,bind,ro {data_dir}"
        command = ["unshare", "-m", "sh", "-c", f'{remount} && exec "$@"', "serve", *command]
        cause = "Read-only file system"
    else:
        os.chmod(data_dir, 0o500)
        cause = "Permission denied"
    try:
        done = subprocess.run(
            command, env=deployment.env, capture_output=True, text=True, timeout=60
        )
    finally:
        os.chmod(data_dir, 0o700)

    assert done.returncode != 0
    assert str(data_dir) in done.stderr and cause in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
