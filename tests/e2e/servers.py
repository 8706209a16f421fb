"""Run the service as users do (``crm serve`` in its own process) and talk to it over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.harness import free_port, process_env


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a process of the same deployment as ``settings``, logging all."""
    return process_env(
        settings, {"CRM_ADMIN_TOKEN": ADMIN_TOKEN, "CRM_LOG_LEVEL": "DEBUG", **extra}
    )


@dataclass
class ServerProcess:
    """``crm serve`` running as a real process; its log (stdout and stderr) in a file."""

    process: subprocess.Popen[bytes]
    client: httpx.Client
    base_url: str
    log_path: Path

    def log(self) -> bytes:
        return self.log_path.read_bytes()

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    env: dict[str, str],
    log_path: Path,
    *,
    args: tuple[str, ...] = (),
    scheme: str = "http",
    verify: Any = True,
) -> ServerProcess:
    """Start ``crm serve`` on a free loopback port and wait until /readyz answers."""
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"{scheme}://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=10, verify=verify)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                return ServerProcess(process, client, base_url, log_path)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            client.close()
            raise RuntimeError("the service did not become ready:\n" + log_path.read_text())
        time.sleep(0.05)


@contextmanager
def serve_process(
    settings: Settings,
    log_path: Path,
    *,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    scheme: str = "http",
    verify: Any = True,
) -> Iterator[ServerProcess]:
    """:func:`start_server` for the deployment of ``settings``, stopped afterwards."""
    server = start_server(
        service_env(settings, **(env or {})), log_path, args=args, scheme=scheme, verify=verify
    )
    try:
        yield server
    finally:
        server.stop()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
