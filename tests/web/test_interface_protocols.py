"""The interface form follows the protocol: POP3, IMAP (folder, after_import) and delivered
interfaces (no server, login or password) are made and edited on the page, checked by
MailInterface itself, and an edit keeps every setting (round trip); the list shows the protocol."""

from __future__ import annotations

import html.parser
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from _imapserver import ScriptedIMAPServer
from _webpages import csrf, make_app
from mailtrack import (
    ImportPolicy,
    MailInterface,
    MailProtocol,
    MemoryRecordStore,
    Route,
    Security,
    SenderPolicy,
)
from mailtrack.testing import build_message


@pytest.fixture
def empty() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryRecordStore())) as client:
        yield client


def _store(client: TestClient) -> MemoryRecordStore:
    store: MemoryRecordStore = client.app.state.mailtrack.store  # type: ignore[attr-defined]
    return store


def _draft(page: str) -> str:
    match = re.search(r'name="draft" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


class _FormFields(html.parser.HTMLParser):
    """What a browser posts for the form ``#connection`` as the page shows it: each input's
    value, ticked checkboxes as ``on``, each select's selected option (else its first)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._in_form = found.get("id") == "connection"
        if not self._in_form:
            return
        if tag == "input" and "name" in found:
            if found.get("type") == "checkbox":
                if "checked" in found:
                    self.fields[found["name"]] = "on"
            else:
                self.fields[found["name"]] = found.get("value", "")
        elif tag == "select":
            self._select, self._first_option = found["name"], None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = found["value"]
                self.fields.setdefault(self._select, found["value"])
            if "selected" in found:
                self.fields[self._select] = found["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def _form_of(page: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page)
    return parser.fields


SAVED = {
    "pop3": MailInterface(
        name="pop-desk",
        server="pop.example.com",
        port=1995,
        login="desk@example.com",
        password="pop-password-1",
        security=Security.STARTTLS,
        leave_copy=True,
        after_import="keep",
        project="desk",
        defaults={"priority": "high"},
        aliases=("help@example.com",),
    ),
    "imap": MailInterface(
        name="imap-desk",
        protocol=MailProtocol.IMAP,
        server="imap.example.com",
        login="desk",
        password_env="DESK_IMAP_PASSWORD",
        folder="Support/Incoming",
        after_import="move:Support/Done",
        ca_file="/etc/ssl/desk-ca.pem",
        project="desk",
        enabled=False,
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    ),
    "deliver": MailInterface(
        name="piped",
        protocol=MailProtocol.DELIVER,
        project="intake",
        aliases=("support@example.com",),
        routes=(Route(address="billing@example.com", project="billing"),),
    ),
}


@pytest.mark.parametrize("protocol", sorted(SAVED))
def test_an_edit_changing_nothing_keeps_every_setting(protocol: str) -> None:
    saved = SAVED[protocol]
    store = MemoryRecordStore()
    store.save_interface(saved)
    with TestClient(make_app(store)) as client:
        page = client.get(f"/interfaces/{saved.name}/edit").text
        fields = _form_of(page)
        assert fields["protocol"] == protocol
        assert saved.password == "" or saved.password not in page  # never sent to the browser
        step_two = client.post("/interfaces/test", data=fields)
        assert step_two.status_code == 200, step_two.text
        data = {"csrf_token": fields["csrf_token"], "draft": _draft(step_two.text), "save_anyway": "on"}
        data.update(
            project=saved.project, defaults="\n".join(f"{k} = {v}" for k, v in saved.defaults.items())
        )
        assert client.post("/interfaces/save", data=data, follow_redirects=False).status_code == 303
    assert store.get_interface(saved.name) == saved


def test_a_new_imap_interface_is_tested_on_its_folder_and_saved(empty: TestClient) -> None:
    with ScriptedIMAPServer() as server:
        server.add(build_message(subject="Waiting in a folder"), folder="Support")
        server.folders["Support/Done"] = []  # the check looks for the folder "move" names
        port = server.interface().port
        token = csrf(empty.get("/interfaces/new").text)
        fields = {
            "csrf_token": token, "original": "", "name": "imap-new", "protocol": "imap",
            "server": "127.0.0.1", "port": str(port), "security": "none", "login": server.user,
            "password": server.password, "enabled": "on", "folder": "Support",
            "after_import": "move", "move_folder": "Support/Done",
        }  # fmt: skip
        step_two = empty.post("/interfaces/test", data=fields)
        assert "Connected and logged in without encryption. 1 message is waiting in folder 'Support'" in (
            step_two.text.replace("&#39;", "'")
        )
        data = {"csrf_token": token, "draft": _draft(step_two.text), "project": "desk"}
        assert empty.post("/interfaces/save", data=data, follow_redirects=False).status_code == 303
    saved = _store(empty).get_interface("imap-new")
    assert (saved.protocol, saved.folder, saved.after_import, saved.effective_port) == (
        MailProtocol.IMAP,
        "Support",
        "move:Support/Done",
        port,
    )
    assert saved.password == server.password


def test_a_new_delivered_interface_needs_no_server_login_or_password(empty: TestClient) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    # What a browser posts with "Delivered" chosen: the hidden mailbox fields as they were.
    fields = {
        "csrf_token": token, "original": "", "name": "piped", "protocol": "deliver",
        "server": "pop.example.com", "login": "typed before switching", "password": "ignored-pw1",
        "security": "ssl", "enabled": "on", "folder": "INBOX", "after_import": "",
    }  # fmt: skip
    step_two = empty.post("/interfaces/test", data=fields)
    assert "has no mailbox to connect to" in step_two.text
    assert "save_anyway" not in step_two.text  # nothing to fail
    data = {"csrf_token": token, "draft": _draft(step_two.text), "project": "intake"}
    listed = empty.post("/interfaces/save", data=data)
    saved = _store(empty).get_interface("piped")
    assert (saved.protocol, saved.server, saved.login, saved.password) == (MailProtocol.DELIVER, "", "", "")
    row = listed.text.split('data-interface="piped"')[1].split("</tr>")[0]
    assert '<td class="protocol">delivered</td>' in row
    assert "Run now" not in row  # no mailbox to run
    assert empty.post("/interfaces/piped/run", data={"csrf_token": token}).status_code == 409


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"protocol": "pop3", "server": ""}, "server: must not be empty"),
        ({"protocol": "imap", "login": ""}, "login: must not be empty"),
        ({"protocol": "pop3", "after_import": "flag"}, "needs protocol 'imap'"),
        ({"protocol": "imap", "after_import": "move", "move_folder": ""}, "'move' needs a folder"),
        ({"protocol": "imap", "folder": ""}, "folder"),
        ({"protocol": "imap", "leave_copy": "on", "after_import": "delete"}, "disagrees with leave_copy"),
        ({"protocol": "smtp"}, "protocol: choose pop3, imap or deliver"),
    ],
)
def test_what_the_configuration_refuses_the_form_refuses_with_the_same_words(
    empty: TestClient, changes: dict[str, str], message: str
) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    fields = {
        "csrf_token": token, "original": "", "name": "desk", "server": "mail.example.com",
        "login": "desk", "security": "ssl", "folder": "INBOX", "after_import": "", **changes,
    }  # fmt: skip
    page = empty.post("/interfaces/test", data=fields)
    assert page.status_code == 400
    assert message in page.text.replace("&#39;", "'")
    assert _store(empty).list_interfaces() == []


def test_the_list_shows_each_protocol() -> None:
    store = MemoryRecordStore()
    for interface in SAVED.values():
        store.save_interface(interface)
    with TestClient(make_app(store)) as client:
        page = client.get("/").text
    shown = {
        name: page.split(f'data-interface="{name}"')[1].split('<td class="protocol">')[1].split("<")[0]
        for name in ("pop-desk", "imap-desk", "piped", "sales")
    }
    assert shown == {"pop-desk": "POP3", "imap-desk": "IMAP", "piped": "delivered", "sales": "POP3"}
    assert "folder Support/Incoming" in page
