"""Matrix entries of the Transactions tab (DOMAIN.md §2, issue 5 item 9).

Who sees what:
- The search (all accounts, one account under ``/accounts/<nickname>/transactions``), its count
  and the CSV exports need TRANSACTION_SEARCH: Search Orders, or Orders/Tickets (the ``clerk``
  and ``refunder``, who have no Transactions tab and reach the search from the Tickets tab; they
  find only transactions tied to tickets). The single other permissions are refused (403) before
  anything is looked up. Results hold only the asker's accounts (checked on sales made for the
  matrix with one shared customer email).
- One transaction (page, receipt, PDF, emailing the receipt, the "T" open-ticket action, the
  subscription actions) is loaded by ``queries.load_transaction``: another Master Account's, an
  account not granted and a missing id are all 404. Search Orders users (and owners) see every
  transaction of their accounts; Orders/Tickets-only clerks only those whose order has a ticket
  -- a sale without one is 404 for them, exactly like a missing id.
- Money needs Refund authority: a refund/cancel ticket through "T", cancelling a subscription and
  processing a held refund are 403 for the clerks without it (processing: refused by the coarse
  check, whatever the object). Pausing, resuming and moving a bill date, recording a return and
  handing a refund off are customer service (Orders/Tickets).
- The Escalations list is for everyone working tickets, scoped to their accounts.

The matrix has one entry per route and method; a route with a second shape that matters for
authorization (a sale without a ticket, a refund ticket through "T", another tenant's ticket id
in the form) checks it with ``_also``: the same principal asks again, on the same object kind,
and gets the status its own table says (page and htmx). Actions act on a new object per cell
and answer 303 when done (pause/resume/date, hand-off and return steps included).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests.authz.matrix import (
    CLERKS,
    GUESTS,
    OBJECTS,
    OWNERS,
    SINGLES,
    Case,
    each,
    logged_in,
    scoped,
)
from tests.conftest import HX

WORKERS = OWNERS + CLERKS
SEARCHERS_NOT = ("clerk", "refunder")  # Orders/Tickets without Search Orders
# Search Orders alone works transactions (search, pages, receipts, "T"); the other single
# permissions (Manage Users, Refund authority, API Read) give no transaction search at all.
# (The Transactions tab itself is Search Orders'; Orders/Tickets alone searches from Tickets.)
NO_TAB = ("manager", "refund_only", "api_reader")
READERS = WORKERS + ("search_only",)
NOT_REFUNDERS = ("clerk", "searcher", "supervisor")
COMMENT = "Matrix check: a comment long enough."
# What each principal sees of the objects of OBJECTS (every clerk is granted A1 only).
VISIBLE = {"owner": ("own", "ungranted"), "other_owner": ("foreign",),
           **{c: ("own",) for c in CLERKS + SINGLES}}


def without_ticket(table: dict) -> dict:
    """The same table for a sale whose order has no ticket: 404 for Orders/Tickets-only clerks
    wherever they were let in (they cannot tell it from a missing id); no change for others."""
    return {who: ({o: 404 for o in OBJECTS} if who in SEARCHERS_NOT else status)
            for who, status in table.items()}


# --- a second request per cell -------------------------------------------------------------------


@dataclass(frozen=True)
class Also:
    """Another shape of the same route: ``url(world, obj)``, ``data(world, principal, obj)``,
    and principal -> {obj: status} (logged-in principals only: guests are bounced before the
    route looks at anything, which the main table checks)."""

    what: str
    method: str
    url: Any
    expect: dict
    data: Any = None


def _send(w, also: Also, who, obj, *, hx=False):
    data = also.data(w, who, obj) if callable(also.data) else also.data
    client = w.clients[who]
    response = client.open(also.url(w, obj), method=also.method, data=data,
                           headers=HX if hx else {})
    if response.status_code in (301, 302, 303):
        with client.session_transaction() as state:  # a message meant for the next page
            state.pop("_flashes", None)
    return response


def _also(*variants: Also, check=None):
    """A ``check`` asking each variant for the same principal and object kind."""

    def run(w, who, obj, response):
        problems = []
        for also in variants if who not in GUESTS else ():
            want = also.expect[who]
            want = want[obj] if isinstance(want, dict) else want
            got = _send(w, also, who, obj)
            if got.status_code != want:
                where = got.headers.get("Location", "")
                problems.append(f"{also.what}: expected {want}, got {got.status_code} {where}")
            elif want in (403, 404):
                got = _send(w, also, who, obj, hx=True)
                if got.status_code != want or "<html" in got.get_data(as_text=True).lower():
                    problems.append(f"{also.what} from htmx: expected {want} as a fragment, "
                                    f"got {got.status_code}")
        if check is not None and (problem := check(w, who, obj, response)):
            problems.append(problem)
        return "; ".join(p.rstrip() for p in problems) or None

    return run


# --- the search pages: only the asker's accounts -------------------------------------------------

SEARCH_EMAIL = "mxfind@buyer.test"


def _search_sale(world, obj):
    """A sale without a ticket, bought by SEARCH_EMAIL; its receipt."""
    return world.make.sale(world.account(obj), email=SEARCH_EMAIL).receipt


BUILDERS = {"search_sale": _search_sale}


def _receipts(w) -> dict[str, str]:
    return {o: w.id("search_sale", o) for o in ("own", "ungranted", "foreign")}


def _search_url(path):
    """``path`` searching for SEARCH_EMAIL, once the sales exist (``path(w, obj)`` or a str)."""

    def url(w, obj):
        _receipts(w)
        base = path(w, obj) if callable(path) else path
        return f"{base}?q={SEARCH_EMAIL}&field=email"

    return url


def _lists_only_visible(w, who, obj, response):
    """The search answers the sales of the principal's accounts (of the one account when
    ``obj`` names it), never another's."""
    if response.status_code != 200:
        return None
    body = response.get_data(as_text=True)
    mine = _findable(who, obj)
    receipts = _receipts(w)
    if missing := sorted(receipts[o] for o in mine if receipts[o] not in body):
        return f"does not list {missing}"
    if leaked := sorted(f"{receipts[o]} ({o})" for o in receipts if o not in mine
                        and receipts[o] in body):
        return f"lists sales of accounts it may not see: {leaked}"
    return None


def _findable(who, obj) -> set[str]:
    """Whose search sales ``who`` finds: those of the accounts they see; none for Orders/Tickets
    without Search Orders, since the search sales have no ticket (issue 8 item 1)."""
    if who in SEARCHERS_NOT:
        return set()
    return set(VISIBLE[who]) if obj is None else {obj}


def _counts_only_visible(w, who, obj, response):
    if response.status_code != 200:
        return None
    _receipts(w)
    found = re.search(r"(\d+) transactions?", response.get_data(as_text=True))
    want = len(_findable(who, obj))
    if not found or int(found.group(1)) != want:
        return f"expected a count of {want}, got {response.get_data(as_text=True)[:80]!r}"
    return None


def _account_search(suffix=""):
    return _search_url(lambda w, o: f"/accounts/{w.id('account', o)}/transactions{suffix}")


# --- one transaction ----------------------------------------------------------------------------


def _txn(suffix: str = "", collection: str = "transaction", fresh: bool = False):
    def url(w, o):
        txn_id = w.fresh(collection, o) if fresh else w.id(collection, o)
        return f"/transactions/{txn_id}{suffix}"

    return url


def _shows_receipt(w, who, obj, response):
    """A 200 is the page of the transaction asked for (its receipt number on it)."""
    if response.status_code != 200 or obj == "missing":
        return None
    from portal.extensions import db
    from portal.transactions.models import Transaction

    with w.app.app_context():
        receipt = db.session.get(Transaction, w.id("transaction", obj)).receipt
        db.session.remove()
    if receipt not in response.get_data(as_text=True):
        return f"answered 200 without the receipt {receipt}"
    return None


def _untracked(suffix: str, method: str = "GET", expect=None, data=None):
    """The same route on a sale whose order has no ticket (a new one per cell for an action)."""
    return Also("a sale without a ticket", method,
                _txn(suffix, "untracked_transaction", fresh=method != "GET"),
                without_ticket(expect), data)


VIEW = scoped(200, allowed=READERS, coarse=NO_TAB)


def _today_plus(w, days: int) -> str:
    """A day in the accounts' zone (America/New_York for A1, A2 and B1), ``days`` from today."""
    from zoneinfo import ZoneInfo

    from portal.types import utcnow

    return (utcnow().astimezone(ZoneInfo("America/New_York")).date()
            + timedelta(days=days)).isoformat()


OPEN_TECH = {"ticket_type": "tech_support", "comment": COMMENT}
# Tickets need Orders/Tickets: Search Orders alone may not open one (they could not see it).
OPENED = scoped(303, allowed=WORKERS, coarse=NO_TAB)
OPENED_REFUND = scoped(303, allowed=OWNERS + ("refunder",), coarse=NO_TAB)

# Subscription actions (on a new subscription per cell; its sale is tied to a ticket).
PAUSE = lambda w, who, o: {"restart_on": _today_plus(w, 40), "comment": COMMENT}  # noqa: E731
MOVE = lambda w, who, o: {"next_bill_on": _today_plus(w, 10), "comment": COMMENT}  # noqa: E731
# pause, resume, move the date: customer service
SERVICE = scoped(303, allowed=WORKERS, coarse=NO_TAB)
# stops the money: Refund authority
CANCEL = scoped(303, allowed=OWNERS + ("refunder",), coarse=NO_TAB)


def _subscription_case(action: str, expect: dict, data, state: str = ""):
    """``state``: "" for an active subscription, "paused_" for a paused one."""
    url = _txn(f"/subscription/{action}", f"{state}subscription_transaction", fresh=True)
    untracked = Also("a subscription whose order has no ticket", "POST",
                     _txn(f"/subscription/{action}", f"untracked_{state}subscription_transaction",
                          fresh=True), without_ticket(expect), data)
    return Case(url, expect, data=data, check=_also(untracked))


# --- the refund hand-off ------------------------------------------------------------------------


def _ticket(suffix: str, collection: str):
    return lambda w, o: f"/transactions/escalations/{w.fresh(collection, o)}/{suffix}"


def _escalations_scoped(w, who, obj, response):
    """The "returns" tab lists the held refunds of the principal's accounts only."""
    if response.status_code != 200:
        return None
    body = response.get_data(as_text=True)
    tickets = {o: w.id("returned_refund_ticket", o) for o in ("own", "ungranted", "foreign")}
    if missing := sorted(tickets[o] for o in VISIBLE[who] if f'id="escalation-{tickets[o]}"'
                         not in body):
        return f"does not list tickets {missing}"
    if leaked := sorted(f"#{tickets[o]} ({o})" for o in tickets if o not in VISIBLE[who]
                        and f'id="escalation-{tickets[o]}"' in body):
        return f"lists tickets of accounts it may not see: {leaked}"
    return None


def _escalations_url(w, obj):
    for o in ("own", "ungranted", "foreign"):
        w.id("returned_refund_ticket", o)
    return "/transactions/escalations?tab=returns"


STEP = {"comment": COMMENT, "step": "label_sent"}

ROUTES = {
    # --- search, count, export: every clerk who works orders; Orders/Tickets alone finds only
    # transactions tied to tickets (the checks) --------------------------------------------------
    "transactions.index": {"GET": Case(
        _search_url("/transactions/"), logged_in(200, **each(NO_TAB, 403)),
        objects=False, check=_lists_only_visible)},
    "transactions.count": {"GET": Case(
        _search_url("/transactions/count"), logged_in(200, **each(NO_TAB, 403)),
        objects=False, check=_counts_only_visible)},
    "transactions.export": {"GET": Case(
        _search_url("/transactions/export.csv"), logged_in(200, **each(NO_TAB, 403)),
        objects=False, check=_lists_only_visible)},
    # One account by nickname: only among the asker's own accounts (another Master Account's
    # nickname is not found, like one that does not exist).
    "transactions.account_search": {"GET": Case(
        _account_search(), scoped(200, allowed=READERS, coarse=NO_TAB),
        check=_lists_only_visible)},
    "transactions.account_export": {"GET": Case(
        _account_search("/export.csv"), scoped(200, allowed=READERS, coarse=NO_TAB),
        check=_lists_only_visible)},

    # --- one transaction --------------------------------------------------------------------------
    "transactions.show": {"GET": Case(_txn(), VIEW, check=_also(_untracked("", expect=VIEW),
                                                                check=_shows_receipt))},
    "transactions.receipt": {"GET": Case(_txn("/receipt"), VIEW, check=_also(
        _untracked("/receipt", expect=VIEW), check=_shows_receipt))},
    "transactions.receipt_pdf": {"GET": Case(_txn("/receipt.pdf"), VIEW, check=_also(
        _untracked("/receipt.pdf", expect=VIEW)))},
    # Emailing the receipt (the mail goes to the customer through the outbox).
    "transactions.email_receipt": {"POST": Case(
        _txn("/email-receipt"), scoped(303, allowed=READERS, coarse=NO_TAB), data={},
        check=_also(_untracked("/email-receipt", "POST", scoped(303, allowed=READERS, coarse=NO_TAB),
                               data={})))},
    # The "T" action: a tech-support ticket is customer service; a refund (or cancellation)
    # request needs Refund authority.
    "transactions.open_ticket": {"POST": Case(
        _txn("/tickets", fresh=True), OPENED, data=OPEN_TECH,
        check=_also(
            _untracked("/tickets", "POST", OPENED, data=OPEN_TECH),
            Also("a refund request", "POST", _txn("/tickets", fresh=True), OPENED_REFUND,
                 data={"ticket_type": "refund", "comment": COMMENT}),
        ))},

    # --- the subscription card --------------------------------------------------------------------
    "transactions.subscription_cancel": {"POST": _subscription_case(
        "cancel", CANCEL, {"comment": COMMENT})},
    "transactions.subscription_pause": {"POST": _subscription_case("pause", SERVICE, PAUSE)},
    "transactions.subscription_resume": {"POST": _subscription_case(
        "resume", SERVICE, {"comment": COMMENT}, "paused_")},
    "transactions.subscription_date": {"POST": _subscription_case("date", SERVICE, MOVE)},

    # --- the refund hand-off and the Escalations list ---------------------------------------------
    # Escalations are ticket work: Orders/Tickets (no single other permission lets one in).
    "transactions.escalations": {"GET": Case(_escalations_url,
                                             logged_in(200, **each(SINGLES, 403)), objects=False,
                                             check=_escalations_scoped)},
    "transactions.record_return": {"POST": Case(
        _ticket("return", "refund_ticket"), scoped(303, allowed=WORKERS, coarse=SINGLES),
        data=STEP)},
    "transactions.hand_off": {"POST": Case(
        _ticket("handoff", "returned_refund_ticket"),
        scoped(303, allowed=WORKERS, coarse=SINGLES),
        data={"comment": COMMENT})},
    "transactions.process_refund": {"POST": Case(
        _ticket("process", "refund_ticket"),
        scoped(303, allowed=OWNERS + ("refunder",), coarse=NOT_REFUNDERS + SINGLES),
        data={"comment": COMMENT})},
}
