"""Email: rendering, the outbox, delivery, and the development mailbox at /dev/mail."""
from __future__ import annotations

import re

from flask import Blueprint, Flask, abort, current_app, g, request
from markupsafe import Markup, escape
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import Channel, OutboxMessage
from portal.web.decorators import public
from portal.web.htmx import render

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

URL_RE = re.compile(r"https?://[^\s<>\"']+")


def _dev_only():
    if current_app.config["ENV"] != "development":
        abort(404)


def linkify(text: str) -> Markup:
    """Plain-text mail with its links made clickable (everything else escaped)."""
    out, last = [], 0
    for match in URL_RE.finditer(text):
        out.append(escape(text[last:match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.get("/")
@public
def index():
    """Every email the portal queued, newest first (development only)."""
    _dev_only()
    to = (request.args.get("to") or "").strip().lower()
    query = select(OutboxMessage).where(OutboxMessage.channel == Channel.EMAIL)
    if to:
        query = query.where(OutboxMessage.recipient.contains(to))
    messages = db.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(200)).all()
    return render("devmail/index.html", block="mail_rows", messages=messages, to=to)


@bp.get("/<int:message_id>")
@public
def show(message_id: int):
    _dev_only()
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.channel != Channel.EMAIL:
        abort(404)
    return render("devmail/show.html", message=message, body=linkify(message.payload["text"]))


@bp.get("/<int:message_id>/html")
@public
def show_html(message_id: int):
    _dev_only()
    message = db.session.get(OutboxMessage, message_id)
    if message is None or not message.payload.get("html"):
        abort(404)
    response = current_app.response_class(message.payload["html"], mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _deliver_after_request(response):
    """Mail queued by this request is handed to the worker once the request is done."""
    if g.pop("outbox_queued", False):
        from portal import tasks

        tasks.kick_outbox()
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_deliver_after_request)
