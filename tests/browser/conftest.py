"""The console in a real browser: one ``crm serve`` (SQLite), a tampering proxy in front
of it, and one headless Chromium driven by Selenium, shared by every browser test.

Chromium and ChromeDriver are Debian's (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). Missing, the tests fail and say so: they are never skipped.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium.webdriver import Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService

from service.settings import Settings
from tests.browser.console import Console
from tests.browser.proxy import TamperingProxy
from tests.browser.world import Tenant, World
from tests.conftest import ADMIN_TOKEN, random_key
from tests.e2e.servers import ServerProcess, service_env, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The network is closed: without these Chromium hangs on connection attempts at start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=en-US",
    "--window-size=1280,900",
]
VIEWER_ZONE = "Asia/Jakarta"
# Set to a folder (e.g. docs/console) to also write the screenshots there.
SCREENSHOTS_ENV = "CONSOLE_SCREENSHOTS"


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``crm serve`` on the embedded SQLite default, checkpointing every second."""
    root = tmp_path_factory.mktemp("console-server")
    settings = Settings.from_env(
        {
            "CRM_DATA_DIR": str(root / "var"),
            "CRM_KEK": random_key(),
            "CRM_INDEX_KEY": random_key(),
            "CRM_SIGNING_KEY": random_key(),
            "CRM_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    env = service_env(settings, CRM_CHECKPOINT_MAX_DELAY_SECONDS="1", CRM_LOG_LEVEL="INFO")
    server = start_server(env, root / "server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def proxy(console_server: ServerProcess) -> Iterator[TamperingProxy]:
    running = TamperingProxy(console_server.base_url)
    try:
        yield running
    finally:
        running.stop()


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver"
            " (.ci/run installs them)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    _require_browser()
    root = tmp_path_factory.mktemp("chromium")
    options = ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={root / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = Chrome(service=ChromeService(CHROMEDRIVER), options=options)
    downloads = root / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads  # type: ignore[attr-defined]
    # Indonesia's western zone, so times visibly follow the viewer's zone, not UTC.
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": VIEWER_ZONE})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def world(console_server: ServerProcess) -> Iterator[World]:
    with httpx.Client(base_url=console_server.base_url, timeout=30) as client:
        yield World(client)


@pytest.fixture(scope="session")
def tenant(world: World) -> Tenant:
    return world.tenant("Toko Contoh")


@pytest.fixture
def console(
    chromium: Chrome, proxy: TamperingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """The console through the proxy, with a fresh tab state (no session, no pins)."""
    shots = tmp_path_factory.getbasetemp() / "console-screenshots"
    shots.mkdir(exist_ok=True)
    extra = os.environ.get(SCREENSHOTS_ENV)
    page = Console(chromium, proxy.url, shots, Path(extra) if extra else None)
    page.reset()
    try:
        yield page
        page.assert_no_policy_violations()
    finally:
        proxy.clear()


def wrong_key() -> str:
    """A well-formed Ed25519 public key that signed nothing of this server's."""
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()
