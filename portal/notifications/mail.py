"""Rendering emails and queueing them in the outbox (same transaction as the change)."""
from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app, g, has_app_context, render_template
from jinja2 import TemplateNotFound

from portal.extensions import db
from portal.notifications.models import Channel, OutboxMessage, OutboxStatus
from portal.types import utcnow


def absolute_url(path: str) -> str:
    """Links in mail are built from the BASE_URL setting, never from the request's Host."""
    return current_app.config["BASE_URL"].rstrip("/") + path


def external_url(endpoint: str, **values) -> str:
    """``url_for`` for mail: absolute, from BASE_URL, and usable outside a request (worker)."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


def render_email(kind: str, context: dict) -> tuple[str, str | None]:
    """(text, html) bodies from ``templates/email/<kind>.txt`` and ``.html``."""
    ctx = dict(context, absolute_url=absolute_url, external_url=external_url)
    text = render_template(f"email/{kind}.txt", **ctx)
    try:
        html = render_template(f"email/{kind}.html", **ctx)
    except TemplateNotFound:
        html = None
    return text, html


def queue_email(
    kind: str,
    *,
    to: str,
    subject: str,
    context: dict,
    now: datetime | None = None,
    master_account_id: int | None = None,
    linked_account_id: int | None = None,
    ticket_id: int | None = None,
    dedupe: str | None = None,
) -> OutboxMessage:
    """Add one email to the outbox. The caller's commit makes it real; a rollback drops it."""
    now = now or utcnow()
    text, html = render_email(kind, context)
    domain = current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].strip("> ") or "portal.local"
    message = OutboxMessage(
        channel=Channel.EMAIL,
        kind=kind,
        status=OutboxStatus.PENDING,
        created_at=now,
        next_attempt_at=now,
        recipient=to.strip().lower(),
        subject=" ".join(subject.split())[:300],  # no header injection through newlines
        message_id=make_msgid(domain=domain),
        master_account_id=master_account_id,
        linked_account_id=linked_account_id,
        ticket_id=ticket_id,
        payload={"text": text, "html": html, "dedupe": dedupe},
    )
    db.session.add(message)
    if has_app_context():
        g.outbox_queued = True
    return message
