"""The web app's protections: headers, CSRF double-submit, and the admin session cookie."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from newswire.web import security

app = FastAPI()


@app.get("/form")
def form(request: Request) -> Response:
    token = security.csrf_token(request)
    response = Response(token)
    security.set_csrf_cookie(request, response, token)
    return security.add_security_headers(response)


@app.post("/submit")
def submit(request: Request, token: str) -> dict[str, bool]:
    return {"ok": security.csrf_ok(request, token)}


def test_headers_forbid_inline_script_framing_and_sniffing():
    headers = TestClient(app).get("/form").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_csrf_token_is_kept_in_an_httponly_strict_cookie_and_must_match():
    client = TestClient(app)
    page = client.get("/form")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    token = page.text
    assert client.get("/form").text == token  # the same browser keeps its token
    assert client.post("/submit", params={"token": token}).json() == {"ok": True}
    assert client.post("/submit", params={"token": "forged"}).json() == {"ok": False}
    cross_site = client.post(
        "/submit", params={"token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.json() == {"ok": False}


def test_no_cookie_no_post():
    assert TestClient(app).post("/submit", params={"token": ""}).json() == {"ok": False}


def test_admin_session_is_a_keyed_hash_of_the_token():
    value = security.admin_session_value("s3cret-token")
    assert "s3cret-token" not in value
    assert value != security.admin_session_value("other-token")
    assert security.token_matches("s3cret-token", "s3cret-token")
    assert not security.token_matches("s3cret-token", "")
    assert not security.token_matches("wrong", "s3cret-token")
