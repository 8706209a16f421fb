"""Run the service as users do (``crm serve`` in its own process) and talk to it over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.harness import free_port


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a process of the same deployment as ``settings``."""
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_KEYSTORE_URL": settings.keystore_url,
        "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
        "CRM_LOG_LEVEL": "DEBUG",
    }
    for name, value in (
        ("CRM_KEK", settings.kek),
        ("CRM_INDEX_KEY", settings.index_key),
        ("CRM_SIGNING_KEY", settings.signing_key),
        ("CRM_LEDGER_SIGNING_KEY", settings.ledger_signing_key),
    ):
        if value:
            env[name] = value
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    client: httpx.Client
    log_path: Path

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(env: dict[str, str], log_path: Path, **client_options: Any) -> ServerProcess:
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, **client_options)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                return ServerProcess(process, client, log_path)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            client.close()
            raise RuntimeError("the service did not become ready:\n" + log_path.read_text())
        time.sleep(0.05)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
