"""Delivering the outbox: claim due rows, send each outside any transaction, record the result.

At-least-once: a row is claimed by pushing its next attempt into the future in one atomic UPDATE,
so two workers never send the same row at the same time; a worker killed mid-send leaves the row
to be retried after the claim expires. Failures back off exponentially (with jitter) up to a cap,
then the row is dead-lettered and an error is logged.
"""
from __future__ import annotations

import logging
import random
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select, update

from portal.extensions import db
from portal.notifications.models import Channel, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

CLAIM_FOR = timedelta(minutes=5)


class PermanentFailure(Exception):
    """Retrying will not help (e.g. a 4xx from ClickBank): dead-letter at once."""


class RetryLater(Exception):
    """A transient failure with a server-given delay (e.g. 429 with Retry-After)."""

    def __init__(self, message: str, after: timedelta):
        super().__init__(message)
        self.after = after


# channel -> handler(message) ; the clickbank package registers its handler at start-up.
HANDLERS: dict[str, Callable[[OutboxMessage], str]] = {}


def register(channel: str, handler: Callable[[OutboxMessage], str]) -> None:
    HANDLERS[channel] = handler


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    cfg = current_app.config
    base = cfg["OUTBOX_BACKOFF_BASE_SECONDS"] * 2 ** max(attempts - 1, 0)
    seconds = min(cfg["OUTBOX_BACKOFF_CAP_SECONDS"], base)
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=seconds * jitter)


def _claim(message_id: int, now: datetime) -> bool:
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + CLAIM_FOR, attempts=OutboxMessage.attempts + 1)
    )
    db.session.commit()
    return result.rowcount == 1


def deliver_due(now: datetime, *, limit: int = 100) -> dict[str, int]:
    """Send up to ``limit`` due messages. Returns counts by outcome."""
    counts = {"sent": 0, "retry": 0, "dead": 0}
    ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.commit()
    for message_id in ids:
        if not _claim(message_id, now):
            continue  # another worker took it
        message = db.session.get(OutboxMessage, message_id)
        outcome = _attempt(message, now)
        counts[outcome] += 1
    return counts


def _attempt(message: OutboxMessage, now: datetime) -> str:
    handler = HANDLERS.get(message.channel)
    try:
        if handler is None:
            raise RuntimeError(f"no handler for channel {message.channel!r}")
        via = handler(message)
    except PermanentFailure as exc:
        return _fail(message, now, str(exc), permanent=True)
    except RetryLater as exc:
        return _fail(message, now, str(exc), after=exc.after)
    except Exception as exc:  # noqa: BLE001 - any other failure is retried
        return _fail(message, now, f"{exc.__class__.__name__}: {exc}")
    message.status = OutboxStatus.SENT
    message.sent_at = now
    message.delivered_via = via
    message.last_error = None
    db.session.commit()
    return "sent"


def _fail(message, now, error, *, permanent=False, after: timedelta | None = None) -> str:
    message.last_error = error[:1000]
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    if permanent or message.attempts >= max_attempts:
        message.status = OutboxStatus.DEAD
        log.error("Outbox message %s (%s) dead after %s attempts: %s", message.id, message.kind,
                  message.attempts, error)
        outcome = "dead"
    else:
        message.next_attempt_at = now + max(after or timedelta(0), backoff(message.attempts))
        log.warning("Outbox message %s attempt %s failed: %s", message.id, message.attempts, error)
        outcome = "retry"
    db.session.commit()
    return outcome


def build_email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id
    email.set_content(message.payload["text"])
    if message.payload.get("html"):
        email.add_alternative(message.payload["html"], subtype="html")
    return email


def send_email(message: OutboxMessage) -> str:
    """Deliver through the configured backend: ``dev`` keeps it for /dev/mail, ``smtp`` sends."""
    cfg = current_app.config
    if cfg["MAIL_BACKEND"] == "dev":
        return "dev"
    email = build_email(message)
    smtp_class = smtplib.SMTP_SSL if cfg["SMTP_TLS"] == "ssl" else smtplib.SMTP
    with smtp_class(cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=cfg["SMTP_TIMEOUT"]) as smtp:
        if cfg["SMTP_TLS"] in (True, "true", "1", "starttls"):
            smtp.starttls()
        if cfg["SMTP_USER"]:
            smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
        try:
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
    return "smtp"


register(Channel.EMAIL, send_email)
