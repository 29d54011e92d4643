"""The web app's protections: response headers (strict CSP), the CSRF double-submit token and
the admin session cookie that stands for NEWSWIRE_ADMIN_TOKEN."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

CSRF_COOKIE = "newswire_csrf"
ADMIN_COOKIE = "newswire_admin"
ADMIN_SESSION_SECONDS = 12 * 3600
# Scripts and styles come only from /static: no inline script, no style attributes, so
# injected markup can neither run nor restyle the page.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """`response` with the page's security headers."""
    response.headers.update(SECURITY_HEADERS)
    return response


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (from its cookie), or a new one that set_csrf_cookie stores."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if len(token) >= 32 else secrets.token_urlsafe(32)


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    """Store `token` in the browser unless it is there already."""
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def csrf_ok(request: Request, submitted: str) -> bool:
    """A form post is ours: it carries the cookie's token and is not sent from another site."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return False
    return bool(cookie) and hmac.compare_digest(cookie.encode(), submitted.encode())


def admin_session_value(admin_token: str) -> str:
    """The cookie value that proves the token was given: a keyed hash, never the token."""
    return hmac.new(admin_token.encode(), b"newswire web admin session", hashlib.sha256).hexdigest()


def is_admin(request: Request, admin_token: str) -> bool:
    """The browser has logged in with the current admin token (off when no token is set)."""
    if not admin_token:
        return False
    cookie = request.cookies.get(ADMIN_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), admin_session_value(admin_token).encode())


def token_matches(given: str, admin_token: str) -> bool:
    """The login form's token is the admin token (constant time)."""
    return bool(admin_token) and hmac.compare_digest(given.encode(), admin_token.encode())


def set_admin_cookie(request: Request, response: Response, admin_token: str) -> None:
    """Log the browser in: an HttpOnly, SameSite=Strict cookie for ADMIN_SESSION_SECONDS."""
    response.set_cookie(
        ADMIN_COOKIE,
        admin_session_value(admin_token),
        max_age=ADMIN_SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
