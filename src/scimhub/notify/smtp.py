"""Sending one mail over SMTP (`SCIMHUB_SMTP_URL`), with errors sorted into transient and permanent.

URL forms: `smtp://host:25` (plain), `smtp+starttls://user:pass@host:587`, `smtps://user:pass@host:465`.
A transient error (connection refused or dropped, a 4xx reply) is retried by the caller with backoff; a
permanent one (a 5xx reply, e.g. an unknown recipient or refused login) is not.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit


class MailError(Exception):
    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientMailError(MailError):
    pass


class PermanentMailError(MailError):
    pass


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    mode: str  # plain, starttls, ssl
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    mode = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}.get(parts.scheme)
    if mode is None or not parts.hostname:
        raise ValueError("SCIMHUB_SMTP_URL must look like smtp://host:port, smtp+starttls://... or smtps://...")
    default_port = {"plain": 25, "starttls": 587, "ssl": 465}[mode]
    return SmtpTarget(
        parts.hostname,
        parts.port or default_port,
        mode,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def _classify(code: int, reason: str) -> MailError:
    return PermanentMailError(reason, code) if code >= 500 else TransientMailError(reason, code)


def send(target: SmtpTarget, message: EmailMessage, recipient: str, *, timeout: float = 15) -> None:
    """Deliver `message` to one recipient. Raises TransientMailError or PermanentMailError."""
    try:
        if target.mode == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with client:
            if target.mode == "starttls":
                client.starttls(context=ssl.create_default_context())
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message, to_addrs=[recipient])
    except smtplib.SMTPRecipientsRefused as exc:
        code, _ = next(iter(exc.recipients.values()), (550, b"refused"))
        raise _classify(int(code), f"recipient refused: {int(code)}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentMailError(f"SMTP login refused: {exc.smtp_code}", exc.smtp_code) from None
    except smtplib.SMTPResponseException as exc:
        raise _classify(int(exc.smtp_code), f"SMTP error {exc.smtp_code}") from None
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
        raise TransientMailError(f"SMTP server unreachable ({type(exc).__name__})") from None
