"""Reading the ticket queue: filters, search and keyset pagination (never OFFSET).

Every query here is scoped to the account ids the caller passes (``visible_account_ids`` of the
principal); nothing in this module decides permissions. The all-accounts queue lists the *active*
accounts' tickets only (``active_ids``): a removed account's tickets are read only and its timers
stopped, so they are no work. They stay reachable by choosing that account (the vendor filter) and
by a search, which looks up every visible account.

A sort order is a list of *segments* that partition the tickets the filters allow:

- ``timed``: open or reopened with a timer, by ``next_action_at`` (soonest expiration first);
- ``untimed``: open or reopened without one (held for a return, or run by ClickBank), newest first;
- ``closed``: closed, most recently closed first.

"Expiration" is timed, untimed, closed; "recently closed" is closed, timed, untimed. A cursor
names the segment and the last row's sort values, so the next page starts exactly after it.

Speed: each segment reads one index chosen here, not by the planner. When many tickets match, it
walks a covering index in the segment's order and stops after one page; when few match, it
collects them through the filter index and sorts them. A search first reads the matching ids from
the email, receipt and ticket-number indexes; up to ``SEARCH_CAP`` matches, their filter and sort
columns are read once and the page, the counts and the order are worked out here; a broader
search becomes one more filter of the index walk. On SQLite the index is pinned with
``INDEXED BY`` (without ANALYZE statistics its planner guesses badly at this size); PostgreSQL
plans with its own statistics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import Select, and_, false, func, literal, or_, select, tuple_, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Alias
from sqlalchemy.sql.visitors import InternalTraversal

from portal.accounts.models import LinkedAccount
from portal.extensions import db
from portal.tickets.lifecycle import Status
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions.models import Subscription, Transaction, TxnType

PAGE_SIZE = 50
COUNT_CAP = 10_000  # counting stops here ("10,000+"): a count never scans the whole table
DENSE = 1_000  # this many matches or more: walk the ordered index instead of sorting matches
OPEN_STATUSES = (Status.OPEN.value, Status.REOPENED.value)
DEFAULT_STATUSES = OPEN_STATUSES
ALL_STATUSES = tuple(s.value for s in Status)
MAX_QUERY = 254
MIN_PREFIX = 3  # shorter search terms match exactly only
SEARCH_CAP = 2_000  # a search matching more is "broad": shown without an exact count
MAX_TICKET_NUMBER = 2**31 - 1  # ticket numbers are INTEGER columns (PostgreSQL: 32 bits)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------
# Choosing the index


class IndexedBy(Alias):
    """``tickets AS <name> INDEXED BY <index>`` on SQLite; a plain alias elsewhere."""

    inherit_cache = True
    _traverse_internals = Alias._traverse_internals + [("index", InternalTraversal.dp_string)]

    def _init(self, selectable, name=None, index=None):
        super()._init(selectable, name=name)
        self.index = index


@compiles(IndexedBy)
def _alias_default(element, compiler, **kw):
    return compiler.visit_alias(element, **kw)


@compiles(IndexedBy, "sqlite")
def _alias_sqlite(element, compiler, **kw):
    text = compiler.visit_alias(element, **kw)
    if kw.get("asfrom"):
        text += f" INDEXED BY {element.index}"
    return text


@lru_cache(maxsize=None)
def tickets_by(index: str):
    """The Ticket entity read through ``index`` (SQLite) — an ORM alias to build queries on
    (made once: building an alias of a wide table costs more than the query it serves)."""
    return aliased(Ticket, IndexedBy._construct(Ticket.__table__, name=f"t_{index}", index=index))


class unindexed(ColumnElement):
    """A column the planner must not use an index for (SQLite's unary ``+``)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column
        self.type = column.type


@compiles(unindexed)
def _unindexed_default(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.column, **kw)


# ---------------------------------------------------------------------------------------------
# Filters and sorts


@dataclass(frozen=True)
class Segment:
    name: str
    key: tuple[str, ...]  # sort columns (attribute names of Ticket)
    descending: bool
    open_side: bool  # holds open/reopened tickets (else closed ones)
    dense_index: str  # walked in order when many tickets match
    sparse_index: str  # read and sorted when few do


SEGMENTS = {
    "timed": Segment(
        "timed", ("next_action_at", "id"), False, True, "ix_tickets_timed", "ix_tickets_filters"
    ),
    "untimed": Segment("untimed", ("id",), True, True, "ix_tickets_queue", "ix_tickets_queue"),
    "closed": Segment(
        "closed", ("closed_at", "id"), True, False, "ix_tickets_closed", "ix_tickets_filters"
    ),
}
SORTS: dict[str, tuple[str, ...]] = {
    "expiration": ("timed", "untimed", "closed"),
    "closed": ("closed", "timed", "untimed"),
}
SORT_LABELS = {
    "expiration": "Expiration (soonest first)",
    "closed": "Recently closed first",
}


@dataclass(frozen=True)
class QueueFilter:
    """What the user asked for. Build it with ``forms.queue_filter``; every field is checked."""

    q: str = ""
    ticket_type: str | None = None
    product: str | None = None  # standard | recurring | None (both)
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    account_id: int | None = None  # the vendor filter, already resolved (-1: matches nothing)
    sort: str | None = None  # None: the default for the statuses

    @property
    def effective_sort(self) -> str:
        if self.sort in SORTS:
            return self.sort
        # A closed-only view has no timers to sort by: most recently closed first.
        return "closed" if self.statuses == (Status.CLOSED.value,) else "expiration"


@dataclass
class Page:
    tickets: list[Ticket]
    next_cursor: str | None
    total: int
    total_capped: bool
    other_status_matches: int = 0  # a search: matches among the statuses not shown
    broad: bool = False  # a search matching more than SEARCH_CAP tickets (no exact count)
    cursor: str | None = None


# ---------------------------------------------------------------------------------------------
# Search terms

_DIGITS = re.compile(r"^#?\d{1,19}$")


def _is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _starts_with(column, text: str):
    """``column`` is ``text`` or starts with it (from 3 characters on), in a form the column's
    index serves.

    SQLite compares with BINARY collation, so a half-open range is exactly "starts with".
    PostgreSQL's range would follow the database collation, so it uses LIKE (served there by a
    ``text_pattern_ops`` index)."""
    if len(text) < MIN_PREFIX:
        return column == text
    if _is_sqlite():
        upper = text[:-1] + chr(ord(text[-1]) + 1)
        return and_(column >= text, column < upper)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


def _ticket_number(digits: str):
    """The ticket with this number, or (from 3 digits on) whose number starts with them: one
    index range per possible length, so "123" finds #123, #1230–#1239, #12300–#12399 …"""
    if digits.startswith("0"):
        return None
    number = int(digits)
    if number > MAX_TICKET_NUMBER:
        return None
    ranges = [Ticket.id == number]
    scale = 10
    while len(digits) >= MIN_PREFIX and number * scale <= MAX_TICKET_NUMBER and len(ranges) < 13:
        ranges.append(and_(Ticket.id >= number * scale, Ticket.id < (number + 1) * scale))
        scale *= 10
    return or_(*ranges)


def search_ids(q: str) -> Select | None:
    """The ids of tickets whose customer email (case-insensitive), ticket number or receipt
    number is ``q`` or starts with it — each term read from its own index."""
    text = q.strip()[:MAX_QUERY]
    if not text:
        return None
    parts: list[Select] = []
    if _DIGITS.match(text):
        by_id = _ticket_number(text.lstrip("#"))
        if by_id is not None:
            parts.append(select(Ticket.id).where(by_id))
        if text.startswith("#"):
            return parts[0] if parts else select(Ticket.id).where(false())
    email = tickets_by("ix_tickets_email")
    parts.append(select(email.id).where(_starts_with(email.customer_email, text.lower())))
    if "@" not in text and not any(c.isspace() for c in text):
        receipt = tickets_by("ix_tickets_receipt")
        parts.append(select(receipt.id).where(_starts_with(receipt.receipt, text.upper())))
        if "-" in text[3:]:  # a rebill receipt (SALE-n), typed at least in part
            parts.append(_by_charge_receipt(text.upper()))
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _by_charge_receipt(text: str) -> Select:
    """Tickets on the order of a rebill whose receipt (``SALE-n``) starts with ``text``: a
    customer quotes their latest charge, while a ticket names the order's first sale."""
    from portal.transactions.models import Transaction

    ticket = tickets_by("ix_tickets_receipt")
    return (
        select(ticket.id)
        .join(Transaction, and_(Transaction.sale_receipt == ticket.receipt,
                                Transaction.linked_account_id == ticket.linked_account_id))
        .where(_starts_with(Transaction.receipt, text), Transaction.receipt != Transaction.sale_receipt)
        .distinct()
    )


KEY_COLUMNS = (
    Ticket.id,
    Ticket.linked_account_id,
    Ticket.status,
    Ticket.ticket_type,
    Ticket.product_type,
    Ticket.next_action_at,
    Ticket.closed_at,
)


@dataclass(frozen=True)
class Found:
    """What a search matched: the matches' filter and sort columns when there are few (the page
    is then worked out in Python), else only the query (a broad search)."""

    query: Select
    keys: tuple | None

    @property
    def broad(self) -> bool:
        return self.keys is None


def find(q: str) -> Found | None:
    query = search_ids(q)
    if query is None:
        return None
    keys = tuple(
        db.session.execute(select(*KEY_COLUMNS).where(Ticket.id.in_(query)).limit(SEARCH_CAP + 1))
    )
    return Found(query, keys if len(keys) <= SEARCH_CAP else None)


# ---------------------------------------------------------------------------------------------
# The query (no search, or a broad one)


def _scope(account_ids, f: QueueFilter, active_ids=None) -> list[int]:
    """The accounts whose tickets are listed: the chosen one (if visible); else, without a
    search, the active ones among ``account_ids`` (when ``active_ids`` is given); else all."""
    if f.account_id is not None:
        return [f.account_id] if f.account_id in account_ids else []
    if active_ids is not None and not f.q.strip():
        return sorted(set(account_ids) & set(active_ids))
    return sorted(account_ids)


def _conditions(t, ids: list[int], statuses, f: QueueFilter, found: Found | None) -> list:
    """Scope and filters on the entity ``t`` (and a broad search's matches)."""
    conds = [t.linked_account_id == ids[0] if len(ids) == 1 else t.linked_account_id.in_(ids)]
    if set(statuses) != set(ALL_STATUSES):
        conds.append(t.status == statuses[0] if len(statuses) == 1 else t.status.in_(statuses))
    if f.ticket_type:
        conds.append(t.ticket_type == f.ticket_type)
    if f.product:
        conds.append(t.product_type == f.product)
    if found is not None:
        conds.append(t.id.in_(found.query))
    return conds


def _segment_where(t, segment: Segment):
    if segment.name == "timed":
        return t.next_action_at.is_not(None)
    if segment.name == "untimed":
        return t.next_action_at.is_(None)
    return t.closed_at.is_not(None)


def _after(t, segment: Segment, values: tuple):
    cols = [getattr(t, k) for k in segment.key]
    if len(cols) == 1:
        return cols[0] < values[0] if segment.descending else cols[0] > values[0]
    right = tuple_(*(literal(v, type_=c.type) for c, v in zip(cols, values, strict=True)))
    return tuple_(*cols) < right if segment.descending else tuple_(*cols) > right


def _count(ids, statuses, f: QueueFilter, found: Found | None) -> tuple[int, bool]:
    """How many tickets match (counting stops after ``COUNT_CAP``)."""
    if not ids or not statuses:
        return 0, False
    if found is not None:  # a broad search: more than SEARCH_CAP, no exact count
        return SEARCH_CAP, True
    t = tickets_by("ix_tickets_filters")
    inner = select(t.id).where(*_conditions(t, ids, statuses, f, None))
    total = (
        db.session.scalar(select(func.count()).select_from(inner.limit(COUNT_CAP + 1).subquery()))
        or 0
    )
    return min(total, COUNT_CAP), total > COUNT_CAP


def _segment_rows(
    ids, statuses, f, found: Found | None, segment: Segment, matches: int, after, want: int
) -> list[Ticket]:
    """Up to ``want`` tickets of one segment, in its order, after ``after`` (sort values)."""
    t = tickets_by(segment.dense_index if matches >= DENSE else segment.sparse_index)
    inner = select(t.id).where(*_conditions(t, ids, statuses, f, found), _segment_where(t, segment))
    if after is not None:
        inner = inner.where(_after(t, segment, after))
    order = [getattr(t, k).desc() if segment.descending else getattr(t, k) for k in segment.key]
    inner = inner.order_by(*order).limit(want)
    rows = list(db.session.scalars(select(Ticket).where(Ticket.id.in_(inner))))
    rows.sort(key=lambda r: tuple(getattr(r, k) for k in segment.key), reverse=segment.descending)
    return rows


def search(
    account_ids,
    f: QueueFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    active_ids=None,
) -> Page:
    """One page of the queue after ``cursor``, the (capped) number of matches, and for a search
    how many tickets with the other statuses also match. With ``active_ids`` (the principal's
    accounts that are not removed), the all-accounts queue leaves removed accounts out; the rows
    and the counts come from the same scope, so they agree."""
    limit = limit or PAGE_SIZE
    ids = _scope(account_ids, f, active_ids)
    found = find(f.q) if ids else None
    if found is not None and not found.broad:
        return _search_page(found.keys, ids, f, cursor, limit)
    open_statuses = tuple(s for s in f.statuses if s in OPEN_STATUSES)
    closed_statuses = tuple(s for s in f.statuses if s == Status.CLOSED.value)
    counts = {
        True: _count(ids, open_statuses, f, found),
        False: _count(ids, closed_statuses, f, found),
    }
    order = SORTS[f.effective_sort]
    start, values = decode_cursor(cursor, order)
    rows: list[Ticket] = []
    next_cursor = None
    for position in range(start, len(order)):
        segment = SEGMENTS[order[position]]
        matches, capped = counts[segment.open_side]
        if matches == 0:
            continue
        statuses = open_statuses if segment.open_side else closed_statuses
        after = values if position == start else None
        got = _segment_rows(
            ids,
            statuses,
            f,
            found,
            segment,
            COUNT_CAP if capped else matches,
            after,
            limit + 1 - len(rows),
        )
        if len(rows) + len(got) > limit:
            rows.extend(got[: limit - len(rows)])
            next_cursor = encode_cursor(position, segment, rows[-1])
            break
        rows.extend(got)
        if len(rows) == limit:
            # Exactly full: only a look at the segments still to come tells whether there is more.
            for name in order[position + 1 :]:
                later = SEGMENTS[name]
                if counts[later.open_side][0] and _segment_rows(
                    ids,
                    open_statuses if later.open_side else closed_statuses,
                    f,
                    found,
                    later,
                    counts[later.open_side][0],
                    None,
                    1,
                ):
                    next_cursor = encode_cursor(position, segment, rows[-1])
                    break
            break
    total = counts[True][0] + counts[False][0]
    capped = counts[True][1] or counts[False][1] or total > COUNT_CAP
    page = Page(rows, next_cursor, min(total, COUNT_CAP), capped, cursor=cursor)
    page.broad = found is not None
    return page


def _search_page(keys, ids: list[int], f: QueueFilter, cursor: str | None, limit: int) -> Page:
    """A page of a search that matched few tickets: filter, count and order their keys here
    (the same segments and cursors as the SQL path), then load the page's tickets."""
    scope = set(ids)
    matching = [
        k
        for k in keys
        if k.linked_account_id in scope
        and (not f.ticket_type or k.ticket_type == f.ticket_type)
        and (not f.product or k.product_type == f.product)
    ]
    shown = [k for k in matching if k.status in f.statuses]
    closed = Status.CLOSED.value
    members = {
        "timed": [k for k in shown if k.status != closed and k.next_action_at is not None],
        "untimed": [k for k in shown if k.status != closed and k.next_action_at is None],
        "closed": [k for k in shown if k.status == closed and k.closed_at is not None],
    }
    order = SORTS[f.effective_sort]
    start, values = decode_cursor(cursor, order)
    listed: list[tuple[int, object]] = []
    for position in range(start, len(order)):
        segment = SEGMENTS[order[position]]
        key = lambda k, s=segment: tuple(getattr(k, c) for c in s.key)  # noqa: E731
        part = sorted(members[segment.name], key=key, reverse=segment.descending)
        if position == start and values is not None:
            part = [k for k in part if (key(k) < values if segment.descending else key(k) > values)]
        listed += [(position, k) for k in part]
        if len(listed) > limit:
            break
    page_keys = listed[:limit]
    next_cursor = None
    if len(listed) > limit:
        position, last = page_keys[-1]
        next_cursor = encode_cursor(position, SEGMENTS[order[position]], last)
    wanted = [k.id for _, k in page_keys]
    loaded = (
        {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(wanted)))}
        if wanted
        else {}
    )
    page = Page(
        [loaded[i] for i in wanted if i in loaded], next_cursor, len(shown), False, cursor=cursor
    )
    if set(f.statuses) != set(ALL_STATUSES):
        page.other_status_matches = len(matching) - len(shown)
    return page


# ---------------------------------------------------------------------------------------------
# Cursors: "<segment position>.<value>.<value>", opaque to users, checked on the way in


def _encode_value(value) -> str:
    if isinstance(value, datetime):
        return "t" + str((value - EPOCH) // timedelta(microseconds=1))
    return str(int(value))


def _decode_value(text: str):
    if text.startswith("t"):
        micros = int(text[1:])
        if not (0 <= micros < 253402300800 * 1_000_000):
            raise ValueError("out of range")
        return EPOCH + timedelta(microseconds=micros)
    number = int(text)
    if not (0 <= number <= MAX_TICKET_NUMBER):
        raise ValueError("out of range")
    return number


def encode_cursor(position: int, segment: Segment, ticket: Ticket) -> str:
    return ".".join([str(position), *(_encode_value(getattr(ticket, k)) for k in segment.key)])


def decode_cursor(cursor: str | None, order: tuple[str, ...]) -> tuple[int, tuple | None]:
    """(segment position, sort values) of a cursor; a missing or malformed one starts at the top."""
    if not cursor or len(cursor) > 120:
        return 0, None
    parts = cursor.split(".")
    try:
        position = int(parts[0])
        if not 0 <= position < len(order):
            return 0, None
        segment = SEGMENTS[order[position]]
        if len(parts) - 1 != len(segment.key):
            return 0, None
        values = tuple(_decode_value(p) for p in parts[1:])
    except (ValueError, OverflowError):
        return 0, None
    for key, value in zip(segment.key, values, strict=True):
        if (key != "id") != isinstance(value, datetime):
            return 0, None
    return position, values


# ---------------------------------------------------------------------------------------------
# The ticket page


@dataclass
class OrderSummary:
    """The order a ticket is about: every transaction of it, its subscription, and its status."""

    sale: Transaction
    rows: list[Transaction]
    subscription: Subscription | None
    status: str  # active | refunded | charged_back
    other_tickets: list[Ticket]

    @property
    def charges(self) -> list[Transaction]:
        return [t for t in self.rows if t.base_type in (TxnType.SALE, TxnType.BILL)]


SALE_STATUS_LABELS = {"active": "Active", "refunded": "Refunded", "charged_back": "Charged back"}


def sale_status(rows: list[Transaction]) -> str:
    """Active, refunded or charged back, from the order's transactions (a chargeback wins)."""
    kinds = {t.base_type for t in rows}
    if TxnType.CGBK in kinds:
        return "charged_back"
    if TxnType.RFND in kinds:
        return "refunded"
    return "active"


def order_summary(ticket: Ticket) -> OrderSummary:
    sale = ticket.transaction
    # Sorted here: an ORDER BY on the time would tempt SQLite into walking every transaction of
    # the account in time order instead of reading the order's few rows.
    rows = sorted(
        db.session.scalars(
            select(Transaction).where(
                Transaction.linked_account_id == ticket.linked_account_id,
                Transaction.sale_receipt == ticket.receipt,
            )
        ),
        key=lambda t: (t.occurred_at, t.id),
    )
    subscription = None
    if sale.subscription_id is not None:
        subscription = db.session.get(Subscription, sale.subscription_id)
    others = list(
        db.session.scalars(
            select(Ticket)
            .where(
                Ticket.linked_account_id == ticket.linked_account_id,
                Ticket.receipt == ticket.receipt,
                Ticket.id != ticket.id,
            )
            .order_by(Ticket.id.desc())
            .limit(20)
        )
    )
    return OrderSummary(sale, rows or [sale], subscription, sale_status(rows), others)


def history(ticket: Ticket) -> list[TicketEvent]:
    """Every event of the ticket, oldest first."""
    return list(
        db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )


def visible_accounts(account_ids) -> list:
    """The linked accounts behind ``account_ids``, by nickname: what the queue needs of them (the
    vendor filter, swatches, zones), not whole rows."""
    if not account_ids:
        return []
    return list(
        db.session.execute(
            select(
                LinkedAccount.id,
                LinkedAccount.nickname,
                LinkedAccount.colour,
                LinkedAccount.timezone,
                LinkedAccount.status,
                LinkedAccount.source,
            )
            .where(LinkedAccount.id.in_(sorted(account_ids)))
            .order_by(LinkedAccount.nickname, LinkedAccount.id)
        )
    )


def account_by_nickname(accounts: list, nickname: str):
    """One of ``accounts`` by nickname (case-insensitive); a linked one before a removed one."""
    wanted = (nickname or "").strip().lower()
    matches = [a for a in accounts if a.nickname.lower() == wanted]
    matches.sort(key=lambda a: a.status != "linked")
    return matches[0] if matches else None
