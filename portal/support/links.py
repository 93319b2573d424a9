"""Signed no-login links: the vendor's reply link and the customer's ticket link (DOMAIN.md §7).

A link names one ticket and one purpose. The vendor link expires after 14 days or when the
ticket closes; the customer link after 60 days, and it stops working if the customer's email on
the ticket changes. Tokens are itsdangerous signatures with a salt per purpose.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VENDOR = "vendor-ticket-link"
CUSTOMER = "customer-ticket-link"
MAX_AGE = {VENDOR: timedelta(days=14), CUSTOMER: timedelta(days=60)}


class LinkInvalid(Exception):
    def __init__(self, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def _email_tag(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:12]


def make_token(purpose: str, ticket) -> str:
    return _serializer(purpose).dumps({"t": ticket.id, "e": _email_tag(ticket.customer_email)})


def read_token(purpose: str, token: str) -> dict:
    """The token's payload, or :class:`LinkInvalid`. The caller still checks the ticket."""
    try:
        data = _serializer(purpose).loads(token, max_age=int(MAX_AGE[purpose].total_seconds()))
    except SignatureExpired as exc:
        raise LinkInvalid(expired=True) from exc
    except BadSignature as exc:
        raise LinkInvalid() from exc
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        raise LinkInvalid()
    return data


def matches(data: dict, ticket) -> bool:
    return data.get("t") == ticket.id and data.get("e") == _email_tag(ticket.customer_email)


def vendor_url(ticket) -> str:
    from portal.notifications.mail import external_url

    return external_url("support.vendor_link", token=make_token(VENDOR, ticket))


def customer_url(ticket) -> str:
    from portal.notifications.mail import external_url

    return external_url("support.customer_link", token=make_token(CUSTOMER, ticket))
