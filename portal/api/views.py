"""The endpoints of the JSON API v1. Each reads through the same scoped queries as the web tabs
and changes tickets only through ``portal.tickets.services`` (the same policy, lifecycle checks,
events, notifications and optimistic version), acting as ``ActorKind.API`` with the key's user.
"""
from __future__ import annotations

from flask import g, jsonify, request, url_for
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from portal.api import bp, idempotency, serialize
from portal.api.auth import current, current_user, keyed, writes
from portal.api.errors import ApiError, not_found
from portal.api.params import (
    MAX_INT,
    Problems,
    body_bool,
    body_int,
    body_text,
    boolean,
    day,
    integer,
    json_body,
    one_of,
    text,
    values,
)
from portal.authz.permissions import Action
from portal.authz.policy import can
from portal.authz.scope import load_or_404
from portal.extensions import db
from portal.tickets import queries as ticket_queries
from portal.tickets import services
from portal.tickets.lifecycle import Refused, Status, TicketType
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions import queries as txn_queries
from portal.transactions import search as txn_search
from portal.transactions.filters import Filters
from portal.transactions.models import Transaction, TxnType
from portal.types import utcnow
from portal.users import apikeys

PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_COMMENT = 5000
TICKET_TYPES = tuple(t.value for t in TicketType)
STATUSES = tuple(s.value for s in Status)
TXN_TYPES = tuple(t.value for t in TxnType)
SALE_FIRST = {TxnType.SALE.value: 0, TxnType.TEST_SALE.value: 0, TxnType.BILL.value: 1,
              TxnType.TEST_BILL.value: 1}
# Refusals of the ticket rules that are about one field of the body.
FIELD_OF_REFUSAL = {
    "comment_too_short": "comment",
    "customer_consent_required": "customer_agreed",
}


def _nicknames() -> dict[int, str]:
    return {a.id: a.nickname for a in ticket_queries.visible_accounts(current().account_ids)}


# ---------------------------------------------------------------------------------------------
# Who am I


@bp.get("/me")
@keyed
def me():
    """The key's user, their permissions and the accounts the key reaches."""
    user, principal = current_user(), current()
    key = apikeys.current(user)
    accounts = ticket_queries.visible_accounts(principal.account_ids)
    return jsonify(
        user={
            "id": user.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "owner": user.is_owner,
            "api_only": user.is_api_only,
        },
        permissions=sorted(p.value for p in principal.perms),
        access="read_write" if can(principal, Action.API_WRITE) else "read",
        accounts=[{"id": a.id, "nickname": a.nickname, "status": a.status} for a in accounts],
        key={
            "prefix": key.prefix if key else None,
            "created_at": serialize.iso(key.created_at) if key else None,
        },
    )


@bp.get("/accounts")
@keyed
def accounts():
    """The linked accounts the key's user may see (no e-mail, credential or secret: those are
    the owner's, in the Accounts tab)."""
    rows = ticket_queries.visible_accounts(current().account_ids)
    return jsonify(accounts=[serialize.account(a) for a in rows])


# ---------------------------------------------------------------------------------------------
# Tickets: the queue and one ticket


@bp.get("/tickets")
@keyed
def tickets():
    """The queue with the filters of the Tickets tab, in keyset pages (``cursor`` = the
    ``next_cursor`` of the previous page)."""
    principal = current()
    accounts = ticket_queries.visible_accounts(principal.account_ids)
    problems = Problems()
    ticket_type = one_of("type", TICKET_TYPES, problems)
    product = one_of("product", ("standard", "recurring"), problems)
    statuses = _statuses(problems)
    sort = one_of("sort", tuple(ticket_queries.SORTS), problems)
    q = text("q", problems, max_length=ticket_queries.MAX_QUERY)
    limit = integer("limit", problems, low=1, high=MAX_PAGE_SIZE, default=PAGE_SIZE)
    account_id = None
    vendor = request.args.get("vendor", "").strip()
    if vendor:
        match = ticket_queries.account_by_nickname(accounts, vendor)
        if match is None:
            problems["vendor"] = "None of your accounts has this nickname."
        else:
            account_id = match.id
    filt = ticket_queries.QueueFilter(
        q=q, ticket_type=ticket_type, product=product, statuses=statuses,
        account_id=account_id, sort=sort,
    )
    cursor = request.args.get("cursor") or None
    order = ticket_queries.SORTS[filt.effective_sort]
    if cursor and ticket_queries.decode_cursor(cursor, order) == (0, None):
        problems["cursor"] = "Not a cursor of this list: use next_cursor from the previous page."
    problems.check()
    page = ticket_queries.search(
        principal.account_ids, filt, cursor=cursor, limit=limit,
        active_ids=principal.active_account_ids,
    )
    nicknames = {a.id: a.nickname for a in accounts}
    return jsonify(
        tickets=[serialize.ticket(t, nicknames) for t in page.tickets],
        total=page.total,
        total_capped=page.total_capped or page.broad,
        next_cursor=page.next_cursor,
        next=_next_url("api.tickets", page.next_cursor),
    )


def _statuses(problems: Problems) -> tuple[str, ...]:
    wanted = values("status")
    if not wanted:
        return ticket_queries.DEFAULT_STATUSES
    if wanted in (["any"], ["all"]):
        return ticket_queries.ALL_STATUSES
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        problems["status"] = f"Each must be one of: {', '.join(STATUSES)} (or any)."
        return ticket_queries.DEFAULT_STATUSES
    return tuple(s for s in STATUSES if s in wanted)


def _next_url(endpoint: str, cursor: str | None) -> str | None:
    if not cursor:
        return None
    args = {k: request.args.getlist(k) for k in request.args if k != "cursor"}
    return url_for(endpoint, **args, cursor=cursor)


def load_ticket(number: int, action: Action = Action.TICKET_VIEW) -> Ticket:
    """The ticket if the key's user may see it; 404 (the same for missing and foreign)."""
    if not 0 < number <= MAX_INT:
        raise not_found()
    return load_or_404(Ticket, number, action, current())


def ticket_body(ticket: Ticket) -> dict:
    return serialize.ticket_detail(
        ticket,
        _nicknames(),
        order=ticket_queries.order_summary(ticket),
        events=ticket_queries.history(ticket),
        options=services.available_actions(current(), ticket, now=utcnow()),
    )


@bp.get("/tickets/<int:number>")
@keyed
def ticket(number: int):
    """Every field of one ticket, its order, its whole history and what the key may do."""
    return jsonify(ticket_body(load_ticket(number)))


# ---------------------------------------------------------------------------------------------
# Working a ticket


def _last_event_id(ticket_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.max(TicketEvent.id), 0)).where(TicketEvent.ticket_id == ticket_id)
    )


def _act(number: int, perform, *, status: int = 200, needs_type: bool = False):
    """Load the ticket, read the body, run one service action as the API user, answer with the
    ticket and the event the action wrote. Refusals: 403 (policy), 409 (the ticket changed since
    ``version``; the current ticket is in the answer), 422 (the rules or the body).

    ``perform(actor, ticket, values, now)`` calls the service; ``values`` holds the body's
    ``comment``, ``version``, ``customer_agreed`` and (``needs_type``) ``to``. Other members of
    the body are ignored (no mass assignment)."""
    principal, user = current(), current_user()
    body = json_body()
    ticket = load_ticket(number)
    problems = Problems()
    given = {
        "comment": body_text(body, "comment", problems, max_length=MAX_COMMENT),
        "version": body_int(body, "version", problems),
        "customer_agreed": body_bool(body, "customer_agreed", problems),
    }
    if needs_type:
        given["to"] = body.get("to")
        if given["to"] not in TICKET_TYPES:
            problems["to"] = f"Must be one of: {', '.join(TICKET_TYPES)}."
    problems.check()
    actor = services.Actor.for_user(user, principal, via_api=True)
    before = _last_event_id(ticket.id)

    def respond(t: Ticket):
        written = db.session.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == t.id, TicketEvent.id > before,
                   TicketEvent.actor_user_id == user.id)
            .order_by(TicketEvent.id)
            .limit(1)
        )
        event = serialize.event(written) if written else None
        return {"ticket": ticket_body(t), "event": event}, status

    def action():
        g.api_result = ticket
        _run(lambda: perform(actor, ticket, given, utcnow()), ticket.id)
        return ticket

    return idempotency.run(user, action, respond)


def _run(call, ticket_id: int | None = None):
    """Call a ticket service; turn its refusals into API errors (after a rollback)."""
    try:
        return call()
    except services.Conflict as conflict:
        db.session.rollback()
        fresh = db.session.get(Ticket, conflict.ticket.id if conflict.ticket else ticket_id)
        raise ApiError(
            409, "conflict",
            "The ticket changed since the version you sent: here is its current state.",
            ticket=serialize.ticket(fresh, _nicknames()) if fresh else None,
        ) from None
    except services.NotAllowed:
        db.session.rollback()
        raise ApiError(
            403, "forbidden", "This key's user may not do this to this ticket."
        ) from None
    except Refused as refused:
        db.session.rollback()
        extra = {}
        if refused.code in FIELD_OF_REFUSAL:
            extra["fields"] = {FIELD_OF_REFUSAL[refused.code]: refused.message}
        raise ApiError(422, refused.code, refused.message, **extra) from None


@bp.post("/tickets/<int:number>/comments")
@writes
def comment(number: int):
    """Add a comment (customer and vendor are notified)."""
    return _act(
        number,
        lambda actor, t, v, now: services.add_comment(
            actor, t, v["comment"], now=now, expected_version=v["version"]
        ),
        status=201,
    )


@bp.post("/tickets/<int:number>/close")
@writes
def close(number: int):
    """Close the ticket; a customer's refund or cancellation request needs
    ``customer_agreed: true``."""
    return _act(
        number,
        lambda actor, t, v, now: services.close(
            actor, t, v["comment"], now=now, customer_agreed=v["customer_agreed"],
            expected_version=v["version"],
        ),
    )


@bp.post("/tickets/<int:number>/reopen")
@writes
def reopen(number: int):
    """Reopen a closed ticket (a refund or cancellation needs Refund authority)."""
    return _act(
        number,
        lambda actor, t, v, now: services.reopen(
            actor, t, v["comment"], now=now, expected_version=v["version"]
        ),
    )


@bp.post("/tickets/<int:number>/type")
@writes
def change_type(number: int):
    """Change the type (``to``: tech_support, refund or cancel). Refund → tech support on a
    customer's request needs ``customer_agreed: true``; to a refund or cancellation needs Refund
    authority."""
    return _act(
        number,
        lambda actor, t, v, now: services.change_type(
            actor, t, v["to"], v["comment"], now=now, customer_agreed=v["customer_agreed"],
            expected_version=v["version"],
        ),
        needs_type=True,
    )


@bp.post("/tickets")
@writes
def open_ticket():
    """Open a ticket on a sale: ``transaction`` (id or receipt), ``type`` (default
    tech_support; refund and cancel need Refund authority), ``comment``, ``escalate``."""
    from portal.transactions.views.detail import outside_vendor_window

    principal, user = current(), current_user()
    body = json_body()
    problems = Problems()
    ref = body.get("transaction")
    if isinstance(ref, bool) or not isinstance(ref, (int, str)) or ref == "":
        problems["transaction"] = "Required: the transaction's id or receipt."
    kind = body.get("type", TicketType.TECH_SUPPORT.value)
    if kind not in TICKET_TYPES:
        problems["type"] = f"Must be one of: {', '.join(TICKET_TYPES)}."
    comment_text = body_text(body, "comment", problems, max_length=MAX_COMMENT)
    escalate = body_bool(body, "escalate", problems)
    problems.check()
    txn, access = load_transaction(ref)
    kind = TicketType(kind)
    if not can(principal, Action.TICKET_REFUND if kind.is_money else Action.TICKET_WORK, access):
        raise ApiError(403, "forbidden", "This key's user may not open this kind of ticket here.")
    sale = txn_queries.sale_of(txn)
    actor = services.Actor.for_user(user, principal, via_api=True)

    def respond(t: Ticket):
        return {"ticket": ticket_body(t)}, 201

    def capture(session, _context):
        for obj in session.new:
            if isinstance(obj, Ticket):
                g.api_result = obj

    def action():
        now = utcnow()
        session = db.session()
        sa_event.listen(session, "after_flush", capture)
        try:
            return _run(lambda: services.open_ticket(
                actor, sale, kind, comment=comment_text, now=now,
                escalated=bool(escalate and outside_vendor_window(sale, now)),
            ))
        finally:
            sa_event.remove(session, "after_flush", capture)

    response = idempotency.run(user, action, respond)
    if response.status_code == 201:
        response.headers["Location"] = response.get_json()["ticket"]["url"]
    return response


# ---------------------------------------------------------------------------------------------
# Transactions


def load_transaction(ref) -> tuple[Transaction, txn_queries.TxnAccess]:
    """A transaction by id (digits) or receipt, if the key's user may see it (Orders/Tickets
    without Search Orders: only transactions tied to a ticket); else 404."""
    principal = current()
    text_ref = str(ref).strip()
    if text_ref.isascii() and text_ref.isdigit():
        if len(text_ref) > 10 or not 0 < int(text_ref) <= MAX_INT:
            raise not_found()
        return txn_queries.load_transaction(int(text_ref), principal=principal)
    receipt = text_ref.upper()
    if not receipt or len(receipt) > 40 or not principal.account_ids:
        raise not_found()
    rows = db.session.scalars(
        select(Transaction).where(
            Transaction.receipt == receipt, Transaction.linked_account_id.in_(principal.account_ids)
        )
    ).all()
    if not rows:
        raise not_found()
    best = min(rows, key=lambda r: (SALE_FIRST.get(r.txn_type, 2), r.id))
    return txn_queries.load_transaction(best.id, principal=principal)


@bp.get("/transactions")
@keyed
def transactions():
    """The search of the Transactions tab, newest first, in keyset pages."""
    principal = current()
    accounts = ticket_queries.visible_accounts(principal.account_ids)
    problems = Problems()
    q = text("q", problems, max_length=120)
    field = one_of("field", ("auto", "receipt", "email", "name"), problems, default="auto")
    date_from, date_to = day("from", problems), day("to", problems)
    if date_from and date_to and date_to < date_from:
        problems["to"] = "The end date is before the start date."
    types = values("type")
    if any(t not in TXN_TYPES for t in types):
        problems["type"] = f"Each must be one of: {', '.join(t.value for t in TxnType)}."
        types = []
    account_ids: tuple[int, ...] = ()
    vendor = request.args.get("vendor", "").strip()
    if vendor:
        match = ticket_queries.account_by_nickname(accounts, vendor)
        if match is None:
            problems["vendor"] = "None of your accounts has this nickname."
        else:
            account_ids = (match.id,)
    amount_min = integer("amount_min", problems, low=0, high=10**12)
    amount_max = integer("amount_max", problems, low=0, high=10**12)
    currency = text("currency", problems, max_length=3).upper()
    if currency and not (len(currency) == 3 and currency.isalpha()):
        problems["currency"] = "Must be a 3-letter currency code."
    zone = _zone(problems)
    limit = integer("limit", problems, low=1, high=MAX_PAGE_SIZE, default=PAGE_SIZE)
    cursor = request.args.get("cursor") or None
    if cursor and txn_search.decode_cursor(cursor) is None:
        problems["cursor"] = "Not a cursor of this list: use next_cursor from the previous page."
    filters = Filters(
        q=q, field=field, date_from=date_from, date_to=date_to, types=tuple(types),
        sku=text("sku", problems, max_length=40), account_ids=account_ids,
        affiliate=text("affiliate", problems, max_length=32).lower(), currency=currency,
        amount_min=amount_min, amount_max=amount_max,
        include_test=boolean("include_test", problems), tz=zone,
    )
    problems.check()
    page = txn_search.search_page(principal, filters, cursor, limit)
    nicknames = {a.id: a.nickname for a in accounts}
    return jsonify(
        transactions=[serialize.transaction(r, nicknames) for r in page.rows],
        next_cursor=page.next_cursor,
        next=_next_url("api.transactions", page.next_cursor),
        scope="all" if can(principal, Action.TRANSACTION_SEARCH_ALL) else "ticket_tied",
    )


def _zone(problems: Problems):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = request.args.get("tz", "").strip() or "UTC"
    try:
        if len(name) > 64 or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems["tz"] = "Must be an IANA time zone such as America/New_York."
        return ZoneInfo("UTC")


@bp.get("/transactions/<ref>")
@keyed
def transaction(ref: str):
    """One transaction by id or receipt: line items, the order's rows, tickets, subscription."""
    txn, _ = load_transaction(ref)
    return jsonify(
        serialize.transaction_detail(
            txn,
            _nicknames(),
            rows=txn_queries.related(txn),
            tickets=txn_queries.tickets_of(txn),
            subscription=txn_queries.subscription_for(txn),
        )
    )

