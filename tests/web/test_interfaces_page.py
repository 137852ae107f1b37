"""The interfaces list and the two-step form against a real POP3 server (POP3TestServer)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from _webpages import SAVED, csrf, make_app
from mailtrack import ConnectionCheck, Importer, MailInterface, MemoryRecordStore, Security
from mailtrack.exceptions import InterfaceNotFoundError
from mailtrack.testing import POP3TestServer, build_message


@pytest.fixture
def server() -> Iterator[POP3TestServer]:
    with POP3TestServer(
        [build_message(subject="Hello from the form")], user="help", password="right-pw"
    ) as running:
        yield running


@pytest.fixture
def empty() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryRecordStore())) as client:
        yield client


def _connection(pop3: POP3TestServer, password: str, **extra: str) -> dict[str, str]:
    return {
        "original": "",
        "name": "helpdesk",
        "server": "127.0.0.1",
        "port": str(pop3.port),
        "security": "none",
        "login": "help",
        "password": password,
        "enabled": "on",
        **extra,
    }


def _draft(page: str) -> str:
    match = re.search(r'name="draft" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def _records_step(token: str, page: str, **fields: str) -> dict[str, str]:
    """The second step's form for the draft on *page*: project ``help`` unless *fields* say otherwise."""
    return {"csrf_token": token, "draft": _draft(page), "project": "help", **fields}


def _store(client: TestClient) -> MemoryRecordStore:
    store: MemoryRecordStore = client.app.state.mailtrack.store  # type: ignore[attr-defined]
    return store


def test_a_wrong_password_shows_the_error_and_saves_nothing(
    empty: TestClient, server: POP3TestServer
) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    step_two = empty.post("/interfaces/test", data={"csrf_token": token, **_connection(server, "wrong-pw")})
    assert step_two.status_code == 200
    assert "The connection test failed" in step_two.text
    assert "wrong-pw" not in step_two.text
    assert "Save anyway" in step_two.text
    saved = empty.post(
        "/interfaces/save", data={"csrf_token": token, "draft": _draft(step_two.text), "project": "help"}
    )
    assert saved.status_code == 400
    assert "save anyway" in saved.text
    assert _store(empty).list_interfaces() == []


def test_save_anyway_saves_an_interface_whose_test_failed(empty: TestClient, server: POP3TestServer) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    step_two = empty.post("/interfaces/test", data={"csrf_token": token, **_connection(server, "wrong-pw")})
    data = {"csrf_token": token, "draft": _draft(step_two.text), "project": "help", "save_anyway": "on"}
    assert empty.post("/interfaces/save", data=data, follow_redirects=False).status_code == 303
    assert _store(empty).get_interface("helpdesk").password == "wrong-pw"


def test_the_right_password_passes_the_test_and_saves_project_and_defaults(
    empty: TestClient, server: POP3TestServer
) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    step_two = empty.post(
        "/interfaces/test", data={"csrf_token": token, **_connection(server, "right-pw", leave_copy="on")}
    )
    assert "Connected and logged in without encryption. 1 message is waiting" in step_two.text
    assert "right-pw" not in step_two.text
    assert "save_anyway" not in step_two.text
    data = _records_step(token, step_two.text, defaults="priority = high\nqueue = first line\n")
    listed = empty.post("/interfaces/save", data=data)
    assert "Saved helpdesk." in listed.text
    saved = _store(empty).get_interface("helpdesk")
    assert (saved.server, saved.port, saved.login, saved.password) == (
        "127.0.0.1",
        server.port,
        "help",
        "right-pw",
    )
    assert (saved.security, saved.leave_copy, saved.enabled, saved.project) == (
        Security.NONE,
        True,
        True,
        "help",
    )
    assert dict(saved.defaults) == {"priority": "high", "queue": "first line"}


def test_a_draft_cannot_be_saved_twice(empty: TestClient, server: POP3TestServer) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    step_two = empty.post("/interfaces/test", data={"csrf_token": token, **_connection(server, "right-pw")})
    data = {"csrf_token": token, "draft": _draft(step_two.text), "project": "help"}
    empty.post("/interfaces/save", data=data)
    assert empty.post("/interfaces/save", data=data).status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": "99999"}, "port"),
        ({"port": "abc"}, "port"),
        ({"server": ""}, "server"),
        ({"security": "rot13"}, "security"),
        ({"name": "sales"}, "defined in mailtrack.toml"),
    ],
)
def test_bad_settings_are_named_and_nothing_is_tested(
    empty: TestClient, server: POP3TestServer, change: dict[str, str], message: str
) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    response = empty.post(
        "/interfaces/test", data={"csrf_token": token, **_connection(server, "right-pw", **change)}
    )
    assert response.status_code == 400
    assert message in response.text
    assert "right-pw" not in response.text
    assert not server.received


def test_bad_default_fields_are_named(empty: TestClient, server: POP3TestServer) -> None:
    token = csrf(empty.get("/interfaces/new").text)
    step_two = empty.post("/interfaces/test", data={"csrf_token": token, **_connection(server, "right-pw")})
    data = _records_step(token, step_two.text, defaults="ok = 1\nno equals")
    response = empty.post("/interfaces/save", data=data)
    assert response.status_code == 400
    assert "line 2" in response.text
    assert _store(empty).list_interfaces() == []


def test_the_edit_form_never_shows_the_stored_password(client: TestClient) -> None:
    page = client.get("/interfaces/support/edit").text
    assert SAVED.password not in page
    assert "unchanged unless you type a new one" in page
    assert 'value="pop.example.com"' in page


def test_an_edit_without_a_new_password_keeps_the_old_one(client: TestClient, server: POP3TestServer) -> None:
    token = csrf(client.get("/interfaces/support/edit").text)
    data = {**_connection(server, ""), "original": "support", "name": "support", "csrf_token": token}
    step_two = client.post("/interfaces/test", data=data)
    assert "The connection test failed" in step_two.text  # the saved password is not the server's
    assert SAVED.password not in step_two.text
    saved = {"csrf_token": token, "draft": _draft(step_two.text), "project": "default", "save_anyway": "on"}
    client.post("/interfaces/save", data=saved)
    edited = _store(client).get_interface("support")
    assert edited.password == SAVED.password
    assert edited.server == "127.0.0.1"


def test_an_edit_can_rename(client: TestClient, server: POP3TestServer) -> None:
    token = csrf(client.get("/interfaces/support/edit").text)
    data = {**_connection(server, "right-pw"), "original": "support", "name": "helpdesk", "csrf_token": token}
    step_two = client.post("/interfaces/test", data=data)
    client.post(
        "/interfaces/save", data={"csrf_token": token, "draft": _draft(step_two.text), "project": "x"}
    )
    assert [i.name for i in _store(client).list_interfaces()] == ["helpdesk"]


def test_the_list_shows_the_last_run_and_the_file_interfaces_read_only(client: TestClient) -> None:
    page = client.get("/").text
    support = page[page.index('data-interface="support"') :]
    assert "1 imported (1 new, 0 follow-ups), 0 skipped, 0 quarantined" in support
    sales = page[page.index('data-interface="sales"') : page.index('data-interface="support"')]
    assert "Defined in mailtrack.toml: edit it there." in sales
    assert "never ran" in sales
    assert "/interfaces/sales/edit" not in page
    assert client.get("/interfaces/sales/edit").status_code == 409
    assert client.get("/interfaces/nobody/edit").status_code == 404


def test_disable_and_enable(client: TestClient) -> None:
    token = csrf(client.get("/").text)
    client.post("/interfaces/support/enabled", data={"csrf_token": token})
    assert _store(client).get_interface("support").enabled is False
    client.post("/interfaces/support/enabled", data={"csrf_token": token, "enabled": "on"})
    assert _store(client).get_interface("support").enabled is True


def test_delete_asks_first_and_keeps_the_records(client: TestClient) -> None:
    confirm = client.get("/interfaces/support/delete").text
    assert "Its records, the ledger of imported messages and its run history stay." in confirm
    client.post("/interfaces/support/delete", data={"csrf_token": csrf(confirm)})
    with pytest.raises(InterfaceNotFoundError):
        _store(client).get_interface("support")
    assert len(_store(client).list_records()) == 1


def test_run_now_imports_and_the_list_shows_the_run(server: POP3TestServer) -> None:
    store = MemoryRecordStore()
    store.save_interface(server.interface(name="helpdesk"))
    with TestClient(make_app(store)) as client:
        token = csrf(client.get("/").text)
        page = client.post("/interfaces/helpdesk/run", data={"csrf_token": token}).text
    assert "helpdesk ran" in page
    assert "1 imported (1 new, 0 follow-ups)" in page
    assert [r.title for r in store.list_records()] == ["Hello from the form"]


def test_a_failed_run_shows_its_error_in_plain_words(server: POP3TestServer) -> None:
    store = MemoryRecordStore()
    store.save_interface(server.interface(name="helpdesk", password="wrong-pw"))
    with TestClient(make_app(store)) as client:
        page = client.post("/interfaces/helpdesk/run", data={"csrf_token": csrf(client.get("/").text)}).text
    assert "The run of helpdesk failed" in page
    assert "failed: " in page
    assert "wrong-pw" not in page


class _EchoingFetcher:
    """A server that repeats the password it was sent in its error."""

    def __init__(self, interface: MailInterface) -> None:
        self.interface = interface

    def check(self) -> ConnectionCheck:
        return ConnectionCheck(
            interface=self.interface.name, ok=False, error=f"-ERR no user with {self.interface.password}"
        )


def test_a_password_the_server_repeats_is_not_shown() -> None:
    store = MemoryRecordStore()
    importer = Importer(store=store, fetcher_factory=_EchoingFetcher)  # type: ignore[arg-type]
    with TestClient(make_app(store, importer=importer)) as client:
        token = csrf(client.get("/interfaces/new").text)
        data = {
            "csrf_token": token,
            "name": "x",
            "server": "pop.example.com",
            "login": "x",
            "security": "ssl",
        }
        page = client.post("/interfaces/test", data={**data, "password": "Sw0rdfish-secret"}).text
    assert "-ERR no user with [the password]" in page
    assert "Sw0rdfish-secret" not in page


def test_drafts_expire_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from starlette.exceptions import HTTPException

    from mailtrack.web._pages import Draft, Drafts

    drafts = Drafts()
    old = drafts.add(Draft(interface=SAVED, original=None, passed=True, created=time.monotonic() - 3601))
    with pytest.raises(HTTPException, match="expired"):
        drafts.get(old)
    monkeypatch.setattr(Drafts, "MOST", 3)
    keys = [
        drafts.add(Draft(interface=SAVED, original=None, passed=True, created=time.monotonic()))
        for _ in range(4)
    ]
    with pytest.raises(HTTPException, match="expired"):
        drafts.get(keys[0])  # pushed out by the newer ones
    assert all(drafts.get(key).interface == SAVED for key in keys[1:])


def test_a_name_with_url_characters_is_listed_edited_run_and_deleted(server: POP3TestServer) -> None:
    name = "sales/eu #1?x=&y"  # (no %: the test client decodes paths twice)
    store = MemoryRecordStore()
    store.save_interface(server.interface(name=name))
    with TestClient(make_app(store)) as client:
        listing = client.get("/").text
        edit = re.search(r'href="(/interfaces/sales/eu[^"]+/edit)"', listing)
        assert edit is not None
        assert "sales/eu #1?x=&amp;y" in client.get(edit.group(1)).text
        run = re.search(r'action="(/interfaces/sales/eu[^"]+/run)"', listing)
        assert run is not None
        assert "1 imported" in client.post(run.group(1), data={"csrf_token": csrf(listing)}).text
        delete = edit.group(1).replace("/edit", "/delete")
        client.post(delete, data={"csrf_token": csrf(listing)})
    assert store.list_interfaces() == []
