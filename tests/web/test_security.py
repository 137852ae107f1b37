"""Every route refuses an unauthorized request and a form without its CSRF token; security headers."""

from __future__ import annotations

import base64

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from _webpages import SAVED, csrf, make_app
from mailtrack import MemoryRecordStore
from mailtrack.web import TokenAuthorization

# Every route of the application with a path that reaches it (the test below checks the list is whole).
GET_ROUTES = {
    "interfaces": "/",
    "new_interface": "/interfaces/new",
    "edit_interface": "/interfaces/support/edit",
    "confirm_delete": "/interfaces/support/delete",
    "records": "/records",
    "record": "/records/1",
    "detail_html": "/records/1/details/1/html",
    "headers": "/records/1/details/1/headers",
    "download": "/records/1/attachments/2",
    "inline_image": "/records/1/attachments/1/image",
    "quarantine": "/quarantine",
    "download_raw": "/quarantine/1.eml",
    "confirm_discard": "/quarantine/1/discard",
    "static": "/static/style.css",
}
POST_ROUTES = {
    "test_interface": "/interfaces/test",
    "save_interface": "/interfaces/save",
    "set_enabled": "/interfaces/support/enabled",
    "delete_interface": "/interfaces/support/delete",
    "run_now": "/interfaces/support/run",
    "retry": "/quarantine/1/retry",
    "discard": "/quarantine/1/discard",
}
ALL = [("GET", path) for path in GET_ROUTES.values()] + [("POST", path) for path in POST_ROUTES.values()]


def test_the_lists_name_every_route(filled: MemoryRecordStore) -> None:
    app = make_app(filled)
    gets = {
        r.name
        for r in app.routes
        if isinstance(r, Mount) or (isinstance(r, Route) and "GET" in (r.methods or ()))
    }
    posts = {r.name for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())}
    assert gets == set(GET_ROUTES)
    assert posts == set(POST_ROUTES)


def test_every_get_route_answers_an_authorized_request(client: TestClient) -> None:
    for path in GET_ROUTES.values():
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(("method", "path"), ALL)
def test_every_route_refuses_an_unauthorized_request(
    filled: MemoryRecordStore, method: str, path: str
) -> None:
    seen = []

    def refuse(request: object) -> bool:
        seen.append(request)
        return False

    with TestClient(make_app(filled, authorize=refuse)) as client:
        response = client.request(method, path)
    assert response.status_code == 403
    assert "not allowed" in response.text
    assert seen
    assert "set-cookie" not in response.headers
    assert filled.get_interface("support") == SAVED
    assert len(filled.list_quarantined()) == 1


@pytest.mark.parametrize(("method", "path"), ALL)
def test_the_token_refuses_a_request_without_it_and_asks_for_it(
    filled: MemoryRecordStore, method: str, path: str
) -> None:
    with TestClient(make_app(filled, authorize=TokenAuthorization("the-right-token"))) as client:
        wrong = base64.b64encode(b"admin:the-wrong-token").decode()
        for headers in ({}, {"Authorization": f"Basic {wrong}"}, {"Authorization": "Bearer the-right-token"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith('Basic realm="mailtrack"')


def test_the_token_lets_its_holder_in(filled: MemoryRecordStore) -> None:
    right = base64.b64encode(b"anyone:the-right-token").decode()
    with TestClient(make_app(filled, authorize=TokenAuthorization("the-right-token"))) as client:
        assert client.get("/records/1", headers={"Authorization": f"Basic {right}"}).status_code == 200


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        TokenAuthorization("short")


@pytest.mark.parametrize(("user", "status"), [({"user": "ada"}, 200), (None, 403)])
def test_a_coroutine_authorize_is_awaited(filled: MemoryRecordStore, user: object, status: int) -> None:
    async def authorize(request: object) -> object:
        return user

    with TestClient(make_app(filled, authorize=authorize)) as client:
        assert client.get("/").status_code == status


@pytest.mark.parametrize("path", POST_ROUTES.values())
@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    client: TestClient, path: str, token: str | None
) -> None:
    client.get("/")  # the CSRF cookie
    data = {} if token is None else {"csrf_token": token}
    response = client.post(path, data=data)
    assert response.status_code == 403
    assert "security token" in response.text
    store = client.app.state.mailtrack.store  # type: ignore[attr-defined]
    assert store.get_interface("support") == SAVED
    assert len(store.list_quarantined()) == 1
    assert store.last_run("support").imported == 1


def test_a_form_without_the_cookie_is_refused(client: TestClient) -> None:
    token = csrf(client.get("/interfaces/support/delete").text)
    client.cookies.clear()
    assert client.post("/interfaces/support/delete", data={"csrf_token": token}).status_code == 403
    assert client.app.state.mailtrack.store.get_interface("support") == SAVED  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_a_form_sent_from_another_site_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    token = csrf(client.get("/interfaces/support/delete").text)
    response = client.post("/interfaces/support/delete", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 403
    assert client.app.state.mailtrack.store.get_interface("support") == SAVED  # type: ignore[attr-defined]


def test_the_right_token_deletes(client: TestClient) -> None:
    token = csrf(client.get("/interfaces/support/delete").text)
    response = client.post("/interfaces/support/delete", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.app.state.mailtrack.store.list_interfaces() == []  # type: ignore[attr-defined]


def test_the_csrf_cookie_is_http_only_and_strict(client: TestClient) -> None:
    cookie = client.get("/").headers["set-cookie"]
    assert "mailtrack_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/;" in cookie or cookie.endswith("Path=/")


@pytest.mark.parametrize("path", GET_ROUTES.values())
def test_every_page_has_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors" in policy or "sandbox" in policy
    assert "script-src" not in policy  # nothing may run: default-src 'none' covers scripts
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (
        response.headers["referrer-policy"] == "same-origin"
    )  # not no-referrer: forms then send Origin: null


def test_the_refusals_have_the_security_headers(filled: MemoryRecordStore) -> None:
    with TestClient(make_app(filled, authorize=lambda request: False)) as client:
        response = client.get("/")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_host_may_let_its_own_pages_frame_them(filled: MemoryRecordStore) -> None:
    with TestClient(make_app(filled, frame_ancestors="'self'")) as client:
        assert client.get("/").headers["content-security-policy"].endswith("frame-ancestors 'self'")
    with TestClient(make_app(filled)) as client:
        assert client.get("/").headers["content-security-policy"].endswith("frame-ancestors 'none'")
