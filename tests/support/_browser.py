"""The browser tests' tools: the distribution's Chromium driven by Selenium, the pages served by
uvicorn on 127.0.0.1 in a thread, the network requests a page made, screenshots for the docs.

Chromium and its driver come from the distribution (``apt-get install chromium chromium-driver``);
nothing is downloaded. Without them the browser tests skip, or fail with
``MAILTRACK_BROWSER=required`` (as CI sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp

__all__ = ["Browser", "chromium", "requested_urls", "served", "wait_for"]

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _found(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def _missing(reason: str) -> None:
    if os.environ.get("MAILTRACK_BROWSER") == "required":
        pytest.fail(f"MAILTRACK_BROWSER=required, but {reason}")
    pytest.skip(reason)


def wait_for(condition: Callable[[], Any], *, seconds: float = 30.0, what: str = "the page") -> Any:
    """Poll *condition* until it is truthy (a liveness bound, many times what it takes)."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:g} s")
        time.sleep(0.05)


@contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """Serve *app* with uvicorn on a free port of 127.0.0.1; yields the base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="uvicorn's start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class _Recorder(socketserver.ThreadingTCPServer):
    """The browser's proxy for every address but 127.0.0.1: it writes down what was asked for
    and answers 502, so that nothing leaves the machine and the tests see every attempt (from
    every frame and process of the browser, which the page's own log does not show)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requested: list[str] = []
        super().__init__(("127.0.0.1", 0), _RecordOne)


class _RecordOne(socketserver.StreamRequestHandler):
    server: _Recorder

    def handle(self) -> None:
        line = self.rfile.readline(65536).decode("latin-1").strip()
        if line:
            method, _, rest = line.partition(" ")
            target = rest.rpartition(" ")[0]
            self.server.requested.append(f"https://{target}" if method == "CONNECT" else target)
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class Browser:
    """A headless Chromium (Selenium) that sends the pages' password and downloads into a folder.

    ``outside`` lists every request the browser made to an address other than 127.0.0.1: the
    page's (which the tests forbid) and the browser's own (update checks, the network time),
    none of which leaves the machine.
    """

    def __init__(self, driver: Any, downloads: Path, outside: list[str]) -> None:
        self.driver = driver
        self.downloads = downloads
        self.outside = outside

    def sign_in(self, site: str, password: str) -> None:
        """Sign in to *site* with HTTP Basic credentials, as a user typing them into the browser's
        dialog would: the browser keeps them for the later requests (frames and downloads too)."""
        self.driver.get(site.replace("http://", f"http://admin:{password}@", 1) + "/")
        wait_for(lambda: "mailtrack" in self.driver.title, what="signing in")

    def follow(self, element: Any) -> None:
        """Click *element* (a link or a submit button) and wait until the next page has loaded."""
        old = self.driver.find_element("tag name", "html")
        element.click()
        wait_for(lambda: _stale(old), what="the next page")
        wait_for(
            lambda: self.driver.execute_script("return document.readyState") == "complete", what="loading"
        )

    def screenshot(self, name: str) -> None:
        """Save a screenshot into ``$MAILTRACK_SCREENSHOTS`` (the docs' folder), when it is set."""
        folder = os.environ.get("MAILTRACK_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _stale(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    return False


def requested_urls(driver: Any) -> list[str]:
    """The URLs the browser requested since the last call (from Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@contextmanager
def chromium(downloads: Path) -> Iterator[Browser]:
    """A headless Chromium from the distribution's packages, closed afterwards."""
    binary = _found(CHROMIUM)
    driver_path = _found(("chromedriver",))
    if binary is None or driver_path is None:
        _missing("Chromium and its driver are not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary  # type: ignore[assignment]
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Sandboxed frames in the page's own process, so that the page's log shows their requests.
        "--disable-features=IsolateSandboxedIframes",
        "--disable-site-isolation-trials",
    ):
        options.add_argument(argument)
    recorder = _Recorder()
    threading.Thread(target=recorder.serve_forever, name="recording proxy", daemon=True).start()
    # Chromium never sends 127.0.0.1 through a proxy; everything else goes to the recorder.
    options.add_argument(f"--proxy-server=http://127.0.0.1:{recorder.server_address[1]}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield Browser(driver, downloads, recorder.requested)
    finally:
        driver.quit()
        recorder.shutdown()
        recorder.server_close()
