"""The console as a person uses it: a page object over Selenium with explicit waits."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 20
PHONE = (390, 844)
LAPTOP = (1280, 900)
MAX_SHOT_HEIGHT = 1300


class Console:
    def __init__(self, driver: Chrome, base_url: str, shots: Path, docs: Path | None) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.docs = docs

    # Navigation and state

    def open(self, route: str = "") -> None:
        """Go to ``#/route``: within the loaded page a hash change, as a person's click."""
        url = f"{self.base_url}/console/{'#/' + route if route else ''}"
        if self.driver.current_url == url:
            self.driver.refresh()
        else:
            self.driver.get(url)
        self.wait_for(lambda d: d.execute_script("return document.documentElement.lang !== ''"))

    def as_phone(self) -> None:
        """A phone's screen (headless windows cannot be narrower than 500 px)."""
        width, height = PHONE
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)

    def reset(self) -> None:
        """A fresh tab state: nothing in sessionStorage (no session, no pins, no language)."""
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        self.driver.set_window_size(*LAPTOP)
        self.open("keys")
        self.driver.execute_script("sessionStorage.clear(); localStorage.clear();")
        self.driver.get_log("browser")  # drop what earlier tests logged
        self.driver.get("about:blank")  # a new page: nothing of the last test in memory
        self.open("signin")

    def wait_for(self, condition: Any, seconds: float = WAIT_SECONDS) -> Any:
        return WebDriverWait(self.driver, seconds, poll_frequency=0.05).until(condition)

    def find(self, css: str) -> WebElement:
        return self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, css))

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        element = self.wait_for(lambda d: _clickable(d, css))
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def state_of(self, css: str, *states: str) -> str:
        """Wait until the element's ``data-state`` is one of ``states``; return it."""

        def settled(driver: Chrome) -> str | bool:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            value = found[0].get_attribute("data-state") if found else None
            return value if value in states else False

        result: str = self.wait_for(settled)
        return result

    def verdict(self, css: str) -> str:
        """The ``data-verdict`` shown inside ``css`` once one is shown."""
        element = self.find(f"{css} [data-verdict]")
        return str(element.get_attribute("data-verdict"))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def storage(self, kind: str) -> dict[str, str]:
        script = f"return Object.fromEntries(Object.entries({kind}Storage))"
        found: dict[str, str] = self.driver.execute_script(script)
        return found

    # Signing in

    def sign_in_with_password(self, tenant_id: str, email: str, password: str) -> None:
        self.open("signin")
        self.type("#signin-password input[name=tenant]", tenant_id)
        self.type("#signin-password input[name=email]", email)
        self.type("#signin-password input[name=password]", password)
        self.click("#signin-password button[type=submit]")
        self.find("[data-action=sign-out]")

    def sign_in_with_token(self, token: str) -> None:
        self.open("signin")
        self.type("#signin-token input[name=token]", token)
        self.click("#signin-token button[type=submit]")
        self.find("[data-action=sign-out]")

    def pin_published(self, kind: str) -> None:
        self.open("keys")
        self.state_of("#published-keys", "done")
        self.click(f"[data-pin={kind}]")
        self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-pinned={kind}]").text)

    def pin_typed(self, kind: str, key: str) -> None:
        self.open("keys")
        self.type(f"[data-pin-input={kind}]", key)
        self.click(f"[data-pin-typed={kind}]")
        expected = grouped_fingerprint(key)
        self.wait_for(lambda d: _text(d, f"[data-pinned={kind}]") == expected)

    # Evidence

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """The page as PNG in the test's temp dir (and in the docs folder when asked)."""
        path = self.shots / f"{name}.png"
        if full_page:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "scale": 1}
            clip["height"] = min(size["height"], MAX_SHOT_HEIGHT)
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        else:
            self.driver.save_screenshot(str(path))
        if self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.docs / path.name)
        return path

    def screenshot_of(self, css: str, name: str) -> Path:
        """One element as PNG (a card, a verdict), in the temp dir and the docs folder."""
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
        path = self.shots / f"{name}.png"
        path.write_bytes(element.screenshot_as_png)
        if self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.docs / path.name)
        return path

    def alert_shown(self) -> bool:
        try:
            self.driver.switch_to.alert.dismiss()
        except NoAlertPresentException:
            return False
        return True

    def module(self, path: str, body: str, *args: Any) -> Any:
        """Import a console module in the page and run ``body`` (an async function body
        with the module as ``m`` and the arguments as ``args``); its value comes back."""
        script = f"""
            const done = arguments[arguments.length - 1];
            const args = Array.from(arguments).slice(0, -1);
            import({path!r}).then(async (m) => {{ {body} }})
              .then((value) => done({{value}}), (error) => done({{error: String(error)}}));
        """
        outcome = self.driver.execute_async_script(script, *args)
        assert "error" not in outcome, outcome["error"]
        return outcome["value"]

    def assert_no_policy_violations(self) -> None:
        """No Content-Security-Policy or Trusted Types violation, no uncaught error."""
        logged = [entry["message"] for entry in self.driver.get_log("browser")]
        bad = [
            m
            for m in logged
            if "Content Security Policy" in m
            or "Trusted Type" in m
            or "Uncaught" in m
            or "TypeError" in m
        ]
        assert bad == [], bad


def grouped_fingerprint(public_key: str) -> str:
    """The fingerprint as the console shows it: SHA-256 of the raw key, hex, in fours."""
    digest = hashlib.sha256(base64.b64decode(public_key)).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _text(driver: Chrome, css: str) -> str | None:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return str(found[0].text) if found else None


def _clickable(driver: Chrome, css: str) -> WebElement | bool:
    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    return found[0] if found and found[0].is_enabled() else False
