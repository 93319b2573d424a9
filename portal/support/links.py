"""Signed no-login links: the vendor's reply link and the customer's ticket link (DOMAIN.md §7).

A link names one ticket and one purpose; the signature (itsdangerous, HMAC-SHA1 over the app's
secret key, with a salt per purpose) is checked before anything in it is used, so a token of one
purpose is never accepted for the other, and a changed byte makes it invalid.

* Vendor link: expires after 14 days, or as soon as the ticket closes (checked on every use), and
  stays dead if the ticket is reopened later: the token carries how many times the ticket had
  closed when it was issued (:func:`closes_of`), and a link whose count is behind the ticket's was
  issued before a close. The reopen mail brings a fresh link. (A count, not the issue time: the
  signature's clock has whole seconds, and a close in the same second as a mail would be
  ambiguous.)
* Customer link: expires after 60 days, and stops working when the customer's email on the ticket
  changes (the token carries a short hash of the address it was sent to). It still shows a closed
  ticket (read only), so the "ticket closed" mail can link to the whole history, and it survives
  a reopen: it stands for the customer's side of the whole conversation (DOMAIN.md §8: "replies
  come back through signed links"), not for one vendor reply window.

Opening a link moves it into the session (``portal.support.access``) and redirects to a URL
without the token; see ``portal.support.views``.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

VENDOR = "vendor-ticket-link"
CUSTOMER = "customer-ticket-link"
MAX_AGE = {VENDOR: timedelta(days=14), CUSTOMER: timedelta(days=60)}
MAX_TOKEN_LENGTH = 400
# The events that close a ticket (lifecycle.EventKind): a vendor link issued before any of them is dead.
CLOSING_KINDS = ("closed", "auto_closed", "finalized")


class LinkInvalid(Exception):
    def __init__(self, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


class _ClockSigner(TimestampSigner):
    """Signs with the caller's ``now`` (services pass their clock), not the machine's."""

    def __init__(self, *args, clock: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.timestamp()) if self._clock else super().get_timestamp()


def _serializer(purpose: str, now: datetime | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose, signer=_ClockSigner,
                                  signer_kwargs={"clock": now})


def email_tag(email: str) -> str:
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:16]


def closes_of(ticket) -> int:
    """How many times ``ticket`` has closed so far (its events; the ticket index serves this)."""
    from portal.extensions import db
    from portal.tickets.models import TicketEvent

    return db.session.scalar(
        select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id,
                                                 TicketEvent.kind.in_(CLOSING_KINDS))
    ) or 0


def make_token(purpose: str, ticket, *, now: datetime | None = None) -> str:
    if purpose == VENDOR:
        payload = {"t": ticket.id, "a": ticket.linked_account_id, "c": closes_of(ticket)}
    else:
        payload = {"t": ticket.id, "e": email_tag(ticket.customer_email)}
    return _serializer(purpose, now).dumps(payload)


def read_token(purpose: str, token: str, *, now: datetime | None = None) -> tuple[dict, datetime]:
    """The token's payload and when it expires, or :class:`LinkInvalid`. The caller still checks
    that the ticket matches (:func:`matches`)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid()
    serializer = _serializer(purpose)
    try:
        # Verify the signature first; the age is checked against ``now`` below (a clock we pass).
        data, signed_at = serializer.loads(token, return_timestamp=True)
    except BadSignature as exc:
        raise LinkInvalid() from exc
    expires_at = signed_at.astimezone(timezone.utc) + MAX_AGE[purpose]
    current = now or datetime.now(timezone.utc)
    if current >= expires_at:
        raise LinkInvalid(expired=True)
    if not isinstance(data, dict) or not isinstance(data.get("t"), int) or isinstance(data.get("t"), bool):
        raise LinkInvalid()
    # Base64 leaves a few bits of the last character unused, so two spellings can carry the same
    # signature. Only the exact token we would have issued is accepted.
    canonical = _serializer(purpose, signed_at).dumps(data)
    if not hmac.compare_digest(canonical, token):
        raise LinkInvalid()
    return data, expires_at


def matches(purpose: str, data: dict, ticket) -> bool:
    if ticket is None or data.get("t") != ticket.id:
        return False
    if purpose == VENDOR:
        return data.get("a") == ticket.linked_account_id
    return data.get("e") == email_tag(ticket.customer_email)


def closed_since(data: dict, ticket) -> bool:
    """The vendor link (or the grant made from it) was issued before the ticket last closed."""
    return data.get("c", 0) != closes_of(ticket)


def vendor_url(ticket, *, now: datetime | None = None) -> str:
    from portal.notifications.mail import external_url

    return external_url("support.vendor_link", token=make_token(VENDOR, ticket, now=now))


def customer_url(ticket, *, now: datetime | None = None) -> str:
    from portal.notifications.mail import external_url

    return external_url("support.customer_link", token=make_token(CUSTOMER, ticket, now=now))


__all__ = ["CUSTOMER", "VENDOR", "LinkInvalid", "SignatureExpired", "closed_since", "closes_of", "customer_url",
           "email_tag",
           "make_token", "matches", "read_token", "vendor_url"]
