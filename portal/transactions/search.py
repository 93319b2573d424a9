"""The search of the Transactions tab: keyset pages (newest first), a capped count with a time
budget, and the CSV rows in keyset chunks. Every query is scoped by the accounts the principal
may see; without Search Orders only transactions tied to a ticket are listed (the API-style list
of an Orders/Tickets-only principal)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, func, literal, or_, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from portal.authz.permissions import Action
from portal.authz.policy import Principal, can
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.transactions import plan
from portal.transactions.filters import Filters, TextMatch, day_start, interpret
from portal.transactions.models import Transaction
from portal.transactions.plan import ci_prefix, hinted, prefix

PAGE_SIZE = 50
COUNT_CAP = 10_000
COUNT_BUDGET_SECONDS = 0.3
EXPORT_CHUNK = 5_000


@dataclass
class Search:
    """A prepared search: its WHERE clause and the columns to use for keyset paging."""

    principal: Principal
    filters: Filters
    account_ids: tuple[int, ...]
    match: TextMatch | None
    driver: str = "time"
    sqlite: bool = False

    def col(self, name: str):
        hint = self.sqlite and name in plan.INDEXED and name not in plan.DRIVER_COLUMNS[self.driver]
        return hinted(getattr(Transaction, name), hint)

    def text_conditions(self, kinds=None) -> list:
        m = self.match
        if m is None:
            return []
        s = self.sqlite
        if m.kind == "receipt":
            return [prefix(self.col("receipt"), m.value, s)]
        if m.kind == "email":
            return [prefix(self.col("customer_email"), m.value, s)]
        last = prefix(self.col("customer_last_name_lc"), m.value, s)
        if m.kind == "name":
            if m.first:  # "Maria Garcia", "Garcia, Maria": both parts
                return [last, prefix(self.col("customer_first_name_lc"), m.first, s)]
            # One word: a first or a last name.
            return [or_(last, prefix(self.col("customer_first_name_lc"), m.value, s))]
        return [
            or_(
                prefix(self.col("receipt"), m.value.upper(), s),
                last,
                prefix(self.col("customer_first_name_lc"), m.value, s),
            )
        ]

    def where(self) -> list:
        f = self.filters
        s = self.sqlite
        account = self.col("linked_account_id")
        conds = (
            [account == self.account_ids[0]]
            if len(self.account_ids) == 1
            else [account.in_(self.account_ids)]
        )
        if not f.tests_included:
            conds.append(Transaction.is_test.is_(False))
        if f.types:
            conds.append(self.col("txn_type").in_(f.types))
        if f.date_from:
            conds.append(self.col("occurred_at") >= day_start(f.date_from, f.tz))
        if f.date_to:
            conds.append(self.col("occurred_at") < day_start(f.date_to + timedelta(days=1), f.tz))
        if f.sku:
            conds.append(self.col("sku") == f.sku)
        if f.affiliate:
            conds.append(ci_prefix(self.col("affiliate"), f.affiliate_value, s))
            if f.affiliate_exact:  # the prefix range finds it through the index; then its length
                conds.append(func.length(self.col("affiliate")) == len(f.affiliate_value))
        if f.currency:
            conds.append(Transaction.currency == f.currency)
        if f.amount_min is not None:
            conds.append(Transaction.amount_cents >= f.amount_min)
        if f.amount_max is not None:
            conds.append(Transaction.amount_cents <= f.amount_max)
        conds.extend(self.text_conditions())
        if not can(self.principal, Action.TRANSACTION_SEARCH_ALL):
            conds.append(
                exists().where(
                    hinted(Ticket.linked_account_id, self.sqlite) == Transaction.linked_account_id,
                    Ticket.receipt == Transaction.sale_receipt,
                )
            )
        return conds

    def after(self, cursor: tuple[datetime, int] | None) -> list:
        if cursor is None:
            return []
        at, txn_id = cursor
        occurred = self.col("occurred_at")
        return [occurred <= at, or_(occurred < at, Transaction.id < txn_id)]

    def order(self):
        return (self.col("occurred_at").desc(), Transaction.id.desc())


def prepare(principal: Principal, filters: Filters, counting: bool = False) -> Search | None:
    """The search for ``filters`` inside the principal's accounts, or None when it cannot match
    anything (no visible account among those asked for)."""
    visible = principal.account_ids
    ids = tuple(sorted(a for a in (filters.account_ids or visible) if a in visible))
    if not ids:
        return None
    search = Search(
        principal, filters, ids, interpret(filters.q, filters.field), sqlite=plan.is_sqlite()
    )
    if search.sqlite:
        search.driver = plan.choose(search, counting)
    return search


# ---------------------------------------------------------------------------------------------
# Running it


@dataclass
class Page:
    rows: list[Transaction]
    next_cursor: str | None
    match: TextMatch | None
    empty_scope: bool = False


def encode_cursor(txn: Transaction) -> str:
    return f"{txn.occurred_at.strftime('%Y%m%dT%H%M%S.%f')}_{txn.id}"


def decode_cursor(value: str | None) -> tuple[datetime, int] | None:
    """A cursor from the URL; anything malformed means "from the start"."""
    if not value or len(value) > 64 or "_" not in value:
        return None
    stamp, _, raw_id = value.partition("_")
    try:
        at = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
        txn_id = int(raw_id)
    except ValueError:
        return None
    if not (0 < txn_id < 2**63):
        return None
    return at, txn_id


def search_page(
    principal: Principal, filters: Filters, cursor: str | None = None, size: int | None = None
) -> Page:
    size = size or PAGE_SIZE
    search = prepare(principal, filters)
    if search is None:
        return Page([], None, interpret(filters.q, filters.field), empty_scope=True)
    stmt = (
        select(Transaction)
        .where(*search.where(), *search.after(decode_cursor(cursor)))
        .order_by(*search.order())
        .limit(size + 1)
    )
    rows = list(db.session.scalars(stmt))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode_cursor(rows[-1]) if more and rows else None, search.match)


@dataclass(frozen=True)
class Count:
    value: int | None  # None: gave up (too expensive to count)
    capped: bool = False


def count(
    principal: Principal,
    filters: Filters,
    cap: int = COUNT_CAP,
    budget: float = COUNT_BUDGET_SECONDS,
) -> Count:
    """How many transactions match, up to ``cap``, within a time budget."""
    search = prepare(principal, filters, counting=True)
    if search is None:
        return Count(0)
    inner = select(literal(1)).select_from(Transaction).where(*search.where()).limit(cap + 1)
    stmt = select(func.count()).select_from(inner.subquery())
    try:
        with _time_budget(budget):
            n = db.session.scalar(stmt)
    except (OperationalError, DBAPIError):
        db.session.rollback()
        return Count(None)
    return Count(min(n, cap), capped=n > cap)


class _time_budget:
    """Abort the statement after ``seconds`` (SQLite: a progress handler; PostgreSQL:
    statement_timeout for this transaction)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        conn = db.session.connection()
        self.dialect = conn.dialect.name
        if self.dialect == "sqlite":
            self.raw = conn.connection.driver_connection
            deadline = time.monotonic() + self.seconds
            self.raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
        elif self.dialect == "postgresql":
            db.session.execute(text(f"SET LOCAL statement_timeout = {int(self.seconds * 1000)}"))
        return self

    def __exit__(self, *exc):
        if self.dialect == "sqlite":
            self.raw.set_progress_handler(None, 0)
        elif self.dialect == "postgresql" and exc[0] is None:
            db.session.execute(text("SET LOCAL statement_timeout = 0"))
        return False


EXPORT_COLUMNS = (
    "occurred_at",
    "linked_account_id",
    "receipt",
    "sale_receipt",
    "txn_type",
    "sku",
    "product_title",
    "quantity",
    "amount_cents",
    "shipping_cents",
    "tax_cents",
    "currency",
    "customer_first_name",
    "customer_last_name",
    "customer_email",
    "customer_country",
    "affiliate",
    "payment_method",
    "tracking_id",
    "id",
)


def export_rows(principal: Principal, filters: Filters, chunk: int = EXPORT_CHUNK):
    """Every matching row as a tuple of :data:`EXPORT_COLUMNS`, newest first, fetched in keyset
    chunks: memory stays flat however many rows there are, and no cursor stays open between
    chunks."""
    search = prepare(principal, filters)
    if search is None:
        return
    table = Transaction.__table__  # plain columns: rows as tuples, no ORM bookkeeping per row
    columns = [table.c[c] for c in EXPORT_COLUMNS]
    where = search.where()
    cursor = None
    while True:
        stmt = (
            select(*columns)
            .where(*where, *search.after(cursor))
            .order_by(*search.order())
            .limit(chunk)
        )
        rows = db.session.execute(stmt).all()
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]
        cursor = (last.occurred_at, last.id)
        db.session.rollback()  # end the read transaction: no snapshot held for the whole export
