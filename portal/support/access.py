"""What a visitor without a login may reach, kept in their (signed, HttpOnly) session cookie.

* A **link grant** names one ticket and one side (``vendor`` or ``customer``). It is created when a
  signed link from a mail is opened (the token then leaves the URL, SECURITY.md S31) and lasts at
  most :data:`GRANT_LIFETIME`, never longer than the token itself would have.
* An **order session** names one order (the sale's transaction id) found with receipt + email. It
  ends after :data:`ORDER_IDLE` without activity and :data:`ORDER_LIFETIME` in all.

Neither logs anybody in: ``current_user`` stays anonymous, so no clerk route is ever reachable
with them. Every check also re-reads the database (ticket open? email unchanged?), so a grant can
never outlive what it was issued for.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import session

from portal.support.links import email_tag

GRANTS_KEY = "support_grants"
ORDER_KEY = "support_order"
LOCALE_KEY = "support_locale"
GRANT_LIFETIME = timedelta(hours=2)
ORDER_IDLE = timedelta(minutes=30)
ORDER_LIFETIME = timedelta(hours=4)
MAX_GRANTS = 8  # keeps the cookie small; the oldest grant goes first


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


# --- link grants ------------------------------------------------------------------------------

def grant_ticket(side: str, ticket, *, now: datetime, token_expires_at: datetime, closes: int | None = None) -> None:
    """``closes``: the token's count of the ticket's closes (vendor links), kept so the grant ends
    with a close even when the ticket is reopened before the grant's two hours are up."""
    grants = dict(session.get(GRANTS_KEY) or {})
    expires = min(now + GRANT_LIFETIME, token_expires_at)
    grant = {"exp": _ts(expires), "e": email_tag(ticket.customer_email)}
    if closes is not None:
        grant["c"] = closes
    grants[f"{side}:{ticket.id}"] = grant
    if len(grants) > MAX_GRANTS:
        for key in sorted(grants, key=lambda k: grants[k]["exp"])[: len(grants) - MAX_GRANTS]:
            grants.pop(key)
    session[GRANTS_KEY] = grants


def ticket_granted(side: str, ticket, *, now: datetime) -> bool:
    """The session holds a live grant for this ticket and side. A customer grant also needs the
    customer's email to be unchanged since the link was sent."""
    grant = (session.get(GRANTS_KEY) or {}).get(f"{side}:{ticket.id}")
    if not isinstance(grant, dict) or grant.get("exp", 0) <= _ts(now):
        return False
    return side == "vendor" or grant.get("e") == email_tag(ticket.customer_email)


def granted_data(side: str, ticket_id: int) -> dict:
    """What the grant keeps of its token (``{"c": closes}`` for a vendor grant)."""
    grant = (session.get(GRANTS_KEY) or {}).get(f"{side}:{ticket_id}")
    return {"c": grant.get("c", 0)} if isinstance(grant, dict) else {}


def has_grant(side: str, ticket_id: int) -> bool:
    return f"{side}:{ticket_id}" in (session.get(GRANTS_KEY) or {})


def drop_grant(side: str, ticket_id: int) -> None:
    grants = dict(session.get(GRANTS_KEY) or {})
    if grants.pop(f"{side}:{ticket_id}", None) is not None:
        session[GRANTS_KEY] = grants


# --- order session ----------------------------------------------------------------------------

def start_order(order, *, now: datetime) -> None:
    session[ORDER_KEY] = {"id": order.id, "e": email_tag(order.customer_email), "start": _ts(now),
                          "seen": _ts(now)}


def order_id(*, now: datetime) -> int | None:
    """The order this session may see, or None (no session, idle or too old)."""
    data = session.get(ORDER_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    stamp = _ts(now)
    if stamp - data.get("seen", 0) > ORDER_IDLE.total_seconds() or \
            stamp - data.get("start", 0) > ORDER_LIFETIME.total_seconds():
        session.pop(ORDER_KEY, None)
        return None
    return data["id"]


def order_matches(order) -> bool:
    data = session.get(ORDER_KEY) or {}
    return data.get("id") == order.id and data.get("e") == email_tag(order.customer_email)


def touch_order(*, now: datetime) -> None:
    data = session.get(ORDER_KEY)
    if isinstance(data, dict) and _ts(now) - data.get("seen", 0) >= 60:
        session[ORDER_KEY] = {**data, "seen": _ts(now)}


def follow_email(order) -> None:
    """After the customer changed their email, the session keeps its order."""
    data = session.get(ORDER_KEY)
    if isinstance(data, dict) and data.get("id") == order.id:
        session[ORDER_KEY] = {**data, "e": email_tag(order.customer_email)}


def end_order() -> None:
    session.pop(ORDER_KEY, None)


def had_order_session() -> bool:
    return ORDER_KEY in session


# --- language ---------------------------------------------------------------------------------

def chosen_locale() -> str | None:
    return session.get(LOCALE_KEY)


def choose_locale(code: str) -> None:
    session[LOCALE_KEY] = code
