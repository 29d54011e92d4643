"""Sending one message to one channel: a signed webhook POST over the feeds' address-checked
client, or an e-mail over SMTP. Each failure says whether trying again may help."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time

import httpx

from newswire.feeds.fetch import FetchError, check_scheme, make_client
from newswire.settings import Settings
from pipeline.delivery import Message, classify_status, email_message, webhook_request
from pipeline.rules import Channel, EmailChannel, WebhookChannel
from pipeline.schedule import parse_retry_after

# Bodies of error answers are cut to this in the reason shown to the user.
REASON_LIMIT = 300


class SendFailure(Exception):
    """A send that did not go through; `transient` says whether a retry may succeed."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


def send(channel: Channel, message: Message, settings: Settings) -> None:
    """Deliver `message` to `channel` once; SendFailure when it did not go through."""
    if isinstance(channel, WebhookChannel):
        post_webhook(channel, message, settings)
    elif isinstance(channel, EmailChannel):
        send_email(channel, message, settings)


def post_webhook(channel: WebhookChannel, message: Message, settings: Settings) -> None:
    """POST the signed body; 2xx is delivered, 408/425/429/5xx and network errors are transient."""
    request = webhook_request(
        channel.url, channel.secret, message, timestamp=int(time.time()), fmt=channel.format
    )
    try:
        check_scheme(request.url)
        response = asyncio.run(_post(request.url, request.headers, request.body, settings))
    except FetchError as exc:
        # BlockedAddress is permanent: the URL resolves somewhere webhooks may not go.
        raise SendFailure(str(exc), transient=exc.transient) from exc
    except httpx.TimeoutException as exc:
        raise SendFailure(f"timeout: {exc!r}", transient=True) from exc
    except httpx.TransportError as exc:
        raise SendFailure(f"connection failed: {exc!r}", transient=True) from exc
    outcome = classify_status(response.status_code)
    if outcome == "delivered":
        return
    detail = response.text[:REASON_LIMIT].strip()
    raise SendFailure(
        f"HTTP {response.status_code}" + (f": {detail}" if detail else ""),
        transient=outcome == "retry",
        retry_after=parse_retry_after(response.headers.get("retry-after"), time.time()),
    )


async def _post(
    url: str, headers: dict[str, str], body: bytes, settings: Settings
) -> httpx.Response:
    # The feeds' client: every connection is address-checked after DNS, no proxies, and no
    # redirects (a 3xx is an answer, not a delivery).
    async with make_client(
        settings.webhook_allowed_networks,
        connect_timeout=settings.webhook_timeout_seconds,
        read_timeout=settings.webhook_timeout_seconds,
        max_connections=2,
    ) as client:
        async with asyncio.timeout(settings.webhook_timeout_seconds * 2):
            response = await client.post(url, headers=headers, content=body)
            await response.aread()
            return response


def send_email(channel: EmailChannel, message: Message, settings: Settings) -> None:
    """One message (plain text + HTML) through the configured SMTP server."""
    if not settings.smtp_host:
        raise SendFailure("e-mail is off: set NEWSWIRE_SMTP_HOST", transient=False)
    domain = settings.smtp_sender.rpartition("@")[2] or "newswire.invalid"
    email = email_message(message, to=channel.to, sender=settings.smtp_sender, domain=domain)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            refused = smtp.send_message(email)
    except smtplib.SMTPResponseException as exc:
        # 4xx: the server asks to come back later; 5xx: it will never take this message.
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        reason = f"SMTP {exc.smtp_code}: {text}"
        raise SendFailure(reason[:REASON_LIMIT], transient=exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendFailure(f"every recipient refused: {exc.recipients}", transient=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailure(f"SMTP failed: {exc!r}"[:REASON_LIMIT], transient=True) from exc
    if refused:
        # Some recipients took it: a retry would send the others a second copy.
        raise SendFailure(f"refused by the server for {sorted(refused)}", transient=False)
