"""Reading transactions: the search (keyset pages, a capped count, the CSV stream), the loader
that decides who may open a transaction, and the order's related rows and tickets.

Every query is scoped by the accounts the principal may see; a principal without Search Orders
(an Orders/Tickets-only clerk, an API key without it) sees only transactions tied to a ticket: a
ticket exists for the order (same account, ``sale_receipt``).

SQLite has no statistics unless someone runs ANALYZE, and without them it picks the account
index for ``linked_account_id IN (...)`` and sorts every row of those accounts. So on SQLite the
search chooses its driving index itself (:func:`_plan`) and disables the others with a unary
``+``; PostgreSQL plans with its own statistics and gets the plain query.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field as dc_field, replace
from datetime import date, datetime, time as dtime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import abort
from sqlalchemy import and_, exists, func, literal, or_, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from portal.accounts.models import LinkedAccount
from portal.authz.permissions import Action, Perm
from portal.authz.policy import Principal, can
from portal.authz.scope import current_principal
from portal.extensions import db
from portal.tickets.models import Ticket
from portal.transactions.models import DailySales, Product, Subscription, Transaction, TxnType

PAGE_SIZE = 50
COUNT_CAP = 10_000
COUNT_BUDGET_SECONDS = 0.3
PROBE_LIMIT = 2_000
EXPORT_CHUNK = 2_000

TYPE_LABELS = {
    "SALE": "Sale",
    "BILL": "Rebill",
    "RFND": "Refund",
    "CGBK": "Chargeback",
    "FEE": "Fee",
    "TEST_SALE": "Test sale",
    "TEST_BILL": "Test rebill",
    "TEST_RFND": "Test refund",
    "TEST_FEE": "Test fee",
}
REVERSALS = {"RFND", "CGBK", "TEST_RFND"}
SALE_TYPES = (TxnType.SALE.value, TxnType.TEST_SALE.value)

RECEIPT_RE = re.compile(r"^[A-Z0-9]{2,20}(-[0-9]{0,6})?$")


# ---------------------------------------------------------------------------------------------
# Loading one transaction


@dataclass(frozen=True)
class TxnAccess:
    """What the policy needs to know about a transaction: its account, and whether a ticket
    exists for its order (Orders/Tickets-only clerks may open only those)."""

    linked_account_id: int
    has_ticket: bool


def _no_index(column):
    """On SQLite, keep the planner off ``column``'s index (see the module docstring)."""
    return _hinted(column, _is_sqlite())


def order_has_ticket(account_id: int, sale_receipt: str) -> bool:
    return bool(
        db.session.scalar(
            select(literal(1)).where(
                exists().where(_no_index(Ticket.linked_account_id) == account_id,
                               Ticket.receipt == sale_receipt)
            )
        )
    )


def access_of(txn: Transaction) -> TxnAccess:
    return TxnAccess(txn.linked_account_id, order_has_ticket(txn.linked_account_id, txn.sale_receipt))


def load_transaction(
    txn_id, action: Action = Action.TRANSACTION_VIEW, principal: Principal | None = None
) -> tuple[Transaction, TxnAccess]:
    """The transaction if the principal may see it, else 404 (also when it exists but is not
    tied to a ticket and the principal may only see ticket-tied ones); then 403 when ``action``
    is not allowed on a transaction they can see."""
    principal = principal or current_principal()
    try:
        txn_id = int(txn_id)
    except (TypeError, ValueError):
        abort(404)
    if principal is None or not (0 < txn_id < 2**63):
        abort(404)
    txn = db.session.get(Transaction, txn_id)
    if txn is None or txn.linked_account_id not in principal.account_ids:
        abort(404)
    access = access_of(txn)
    if not can(principal, Action.TRANSACTION_VIEW, access):
        abort(404)
    if action is not Action.TRANSACTION_VIEW and not can(principal, action, access):
        abort(403)
    return txn, access


def sale_of(txn: Transaction) -> Transaction:
    """The order's original sale (tickets, subscriptions and refunds hang off it)."""
    if txn.txn_type in SALE_TYPES:
        return txn
    sale = db.session.scalar(
        select(Transaction).where(
            Transaction.linked_account_id == txn.linked_account_id,
            Transaction.receipt == txn.sale_receipt,
            Transaction.txn_type.in_(SALE_TYPES),
        )
    )
    return sale or txn


def related(txn: Transaction) -> list[Transaction]:
    """Every row of the order (sale, rebills, refunds, chargebacks, fees), oldest first.
    (Sorted here: an ORDER BY would lure SQLite onto the account's time index.)"""
    rows = db.session.scalars(
        select(Transaction).where(
            Transaction.linked_account_id == txn.linked_account_id,
            Transaction.sale_receipt == txn.sale_receipt,
        )
    )
    return sorted(rows, key=lambda r: (r.occurred_at, r.id))


def tickets_of(txn: Transaction) -> list[Ticket]:
    """The order's tickets, newest first."""
    rows = db.session.scalars(
        select(Ticket).where(
            _no_index(Ticket.linked_account_id) == txn.linked_account_id, Ticket.receipt == txn.sale_receipt
        )
    )
    return sorted(rows, key=lambda t: (t.opened_at, t.id), reverse=True)


def subscription_for(txn: Transaction) -> Subscription | None:
    sale = sale_of(txn)
    return db.session.scalar(select(Subscription).where(Subscription.sale_transaction_id == sale.id))


# ---------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class Filters:
    q: str = ""
    field: str = "auto"  # auto | receipt | email | name
    date_from: date | None = None
    date_to: date | None = None
    types: tuple[str, ...] = ()
    sku: str = ""
    account_ids: tuple[int, ...] = ()  # empty: every visible account
    affiliate: str = ""
    currency: str = ""
    amount_min: int | None = None  # minor units
    amount_max: int | None = None
    include_test: bool = False
    tz: ZoneInfo = dc_field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def tests_included(self) -> bool:
        return self.include_test or any(t.startswith("TEST_") for t in self.types)


@dataclass(frozen=True)
class TextMatch:
    """How the search box was read: ``kind`` is receipt, email, name or receipt_or_name."""

    kind: str
    value: str
    first: str = ""  # first-name prefix for "first last"

    @property
    def description(self) -> str:
        return {
            "receipt": f"receipts starting with {self.value}",
            "email": f"customer emails starting with {self.value}",
            "name": "customers named " + " ".join(p for p in (self.first, self.value) if p) + "…",
            "receipt_or_name": f"receipts or last names starting with {self.value}",
        }[self.kind]


def interpret(q: str, field: str = "auto") -> TextMatch | None:
    """Read the search box: an @ (or a dot, underscore or plus in one word) means an email,
    digits or a dash a receipt, words a name."""
    q = " ".join((q or "").split())[:120]
    if not q:
        return None
    if field == "email" or (field == "auto" and " " not in q and any(c in q for c in "@._+")):
        return TextMatch("email", q.lower().replace(" ", ""))
    if field == "receipt":
        return TextMatch("receipt", q.upper().replace(" ", ""))
    words = q.split(" ")
    if field == "name" or len(words) > 1:
        last = words[-1].lower()
        first = " ".join(words[:-1]).lower()
        return TextMatch("name", last, first)
    token = q.upper()
    if RECEIPT_RE.match(token) and (any(c.isdigit() for c in token) or "-" in token):
        return TextMatch("receipt", token)
    if RECEIPT_RE.match(token):
        return TextMatch("receipt_or_name", q.lower())
    return TextMatch("name", q.lower())


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime(0, 0), tzinfo=tz).astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------
# Building the query


def _is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _hinted(column, on: bool):
    """``+column`` on SQLite: the same value, but the planner may not use an index for it."""
    if not on:
        return column
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _upper_bound(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (binary order)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    if 0xD7FF <= last < 0xE000:  # skip the surrogate block: not valid in UTF-8
        return prefix[:-1] + "\ue000"
    return prefix[:-1] + chr(last + 1)


def _prefix(column, value: str, sqlite: bool):
    """``column`` starts with ``value``. SQLite: a range on the (binary) index. PostgreSQL:
    LIKE with the wildcards escaped (correct under any collation)."""
    if sqlite:
        return and_(column >= value, column < _upper_bound(value))
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


def _ci_prefix(column, value: str, sqlite: bool):
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if sqlite:
        return column.like(escaped, escape="\\")  # SQLite's LIKE ignores ASCII case
    return column.ilike(escaped, escape="\\")


# The indexes a search can be driven by (SQLite only); the other indexed columns get a "+".
DRIVER_COLUMNS = {
    "receipt": ("receipt",),
    "email": ("customer_email",),
    "name": ("customer_last_name_lc",),
    "receipt_or_name": ("receipt", "customer_last_name_lc"),
    "affiliate": ("affiliate",),
    "account_type": ("linked_account_id", "txn_type", "occurred_at"),
    "account": ("linked_account_id", "occurred_at"),
    "type": ("txn_type", "occurred_at"),
    "time": ("occurred_at",),
}
INDEXED = ("linked_account_id", "occurred_at", "txn_type", "receipt", "customer_email",
           "customer_last_name_lc", "affiliate", "sale_receipt")


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
        hint = self.sqlite and name in INDEXED and name not in DRIVER_COLUMNS[self.driver]
        return _hinted(getattr(Transaction, name), hint)

    def text_conditions(self, kinds=None) -> list:
        m = self.match
        if m is None:
            return []
        s = self.sqlite
        if m.kind == "receipt":
            return [_prefix(self.col("receipt"), m.value, s)]
        if m.kind == "email":
            return [_prefix(self.col("customer_email"), m.value, s)]
        if m.kind == "name":
            conds = [_prefix(self.col("customer_last_name_lc"), m.value, s)]
            if m.first:
                conds.append(_ci_prefix(Transaction.customer_first_name, m.first, s))
            return conds
        return [or_(_prefix(self.col("receipt"), m.value.upper(), s),
                    _prefix(self.col("customer_last_name_lc"), m.value, s))]

    def where(self) -> list:
        f = self.filters
        account = self.col("linked_account_id")
        conds = [account == self.account_ids[0]] if len(self.account_ids) == 1 else [
            account.in_(self.account_ids)]
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
            conds.append(self.col("affiliate") == f.affiliate)
        if f.currency:
            conds.append(Transaction.currency == f.currency)
        if f.amount_min is not None:
            conds.append(Transaction.amount_cents >= f.amount_min)
        if f.amount_max is not None:
            conds.append(Transaction.amount_cents <= f.amount_max)
        conds.extend(self.text_conditions())
        if not self.principal.has(Perm.SEARCH_ORDERS):
            conds.append(
                exists().where(
                    _hinted(Ticket.linked_account_id, self.sqlite) == Transaction.linked_account_id,
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


def prepare(principal: Principal, filters: Filters) -> Search | None:
    """The search for ``filters`` inside the principal's accounts, or None when it cannot match
    anything (no visible account among those asked for)."""
    visible = principal.account_ids
    ids = tuple(sorted(a for a in (filters.account_ids or visible) if a in visible))
    if not ids:
        return None
    search = Search(principal, filters, ids, interpret(filters.q, filters.field), sqlite=_is_sqlite())
    if search.sqlite:
        search.driver = _plan(search)
    return search


def _surely_selective(m: TextMatch) -> bool:
    """A long receipt prefix or an email with its @ matches a handful of rows: no need to
    probe the index before using it."""
    return (m.kind == "receipt" and len(m.value) >= 6) or (m.kind == "email" and "@" in m.value[1:])


def _probe(conds) -> int:
    """How many rows match ``conds`` (index-only), counting no further than PROBE_LIMIT."""
    inner = select(literal(1)).select_from(Transaction).where(*conds).limit(PROBE_LIMIT)
    return db.session.scalar(select(func.count()).select_from(inner.subquery()))


def _plan(search: Search) -> str:
    """Pick the index that finds the fewest rows: probe each candidate (an index-only count,
    capped), else walk the accounts' rows newest first through a time index."""
    f = search.filters
    m = search.match
    if m is not None and not f.affiliate and _surely_selective(m):
        return m.kind
    candidates: dict[str, list] = {}
    if m is not None:
        if m.kind == "receipt":
            candidates["receipt"] = [_prefix(Transaction.receipt, m.value, True)]
        elif m.kind == "email":
            candidates["email"] = [_prefix(Transaction.customer_email, m.value, True)]
        elif m.kind == "name":
            candidates["name"] = [_prefix(Transaction.customer_last_name_lc, m.value, True)]
        else:
            candidates["receipt_or_name"] = [
                or_(_prefix(Transaction.receipt, m.value.upper(), True),
                    _prefix(Transaction.customer_last_name_lc, m.value, True))]
    if f.affiliate:
        candidates["affiliate"] = [Transaction.affiliate == f.affiliate]
    best, best_n = None, PROBE_LIMIT
    for name, conds in candidates.items():
        n = _probe(conds)
        if n < best_n:
            best, best_n = name, n
    if best is not None:
        return best
    # Types: a rare type (chargebacks, fees) is found fastest through a type index; a common one
    # (sales) by walking time and skipping the others.
    window = []
    if f.date_from:
        window.append(Transaction.occurred_at >= day_start(f.date_from, f.tz))
    if f.date_to:
        window.append(Transaction.occurred_at < day_start(f.date_to + timedelta(days=1), f.tz))
    # One type: its index is already in time order, whatever the type. Several: probe.
    if len(search.account_ids) == 1:
        if len(f.types) == 1 or (f.types and _probe([
                Transaction.linked_account_id == search.account_ids[0], Transaction.txn_type.in_(f.types),
                *window]) < PROBE_LIMIT):
            return "account_type"
        return "account"
    if len(f.types) == 1 or (f.types and _probe([Transaction.txn_type.in_(f.types), *window]) < PROBE_LIMIT):
        return "type"
    return "time"


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


def search_page(principal: Principal, filters: Filters, cursor: str | None = None,
                size: int = PAGE_SIZE) -> Page:
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


def count(principal: Principal, filters: Filters, cap: int = COUNT_CAP,
          budget: float = COUNT_BUDGET_SECONDS) -> Count:
    """How many transactions match, up to ``cap``, within a time budget."""
    search = prepare(principal, filters)
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
    "occurred_at", "linked_account_id", "receipt", "sale_receipt", "txn_type", "sku",
    "product_title", "quantity", "amount_cents", "shipping_cents", "tax_cents", "currency",
    "customer_first_name", "customer_last_name", "customer_email", "customer_country",
    "affiliate", "payment_method", "tracking_id", "id",
)


def export_rows(principal: Principal, filters: Filters, chunk: int = EXPORT_CHUNK):
    """Every matching row as a tuple of :data:`EXPORT_COLUMNS`, newest first, fetched in keyset
    chunks: memory stays flat however many rows there are, and no cursor stays open between
    chunks."""
    search = prepare(principal, filters)
    if search is None:
        return
    columns = [getattr(Transaction, c) for c in EXPORT_COLUMNS]
    where = search.where()
    cursor = None
    while True:
        stmt = select(*columns).where(*where, *search.after(cursor)).order_by(*search.order()).limit(chunk)
        rows = db.session.execute(stmt).all()
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]
        cursor = (last.occurred_at, last.id)
        db.session.rollback()  # end the read transaction: no snapshot held for the whole export


# ---------------------------------------------------------------------------------------------
# Choices for the filter form


def accounts_for(principal: Principal) -> list:
    """The user's accounts (id, nickname, colour, timezone, status), by nickname: light rows,
    since every search request needs them for the account column."""
    if not principal.account_ids:
        return []
    return list(
        db.session.execute(
            select(LinkedAccount.id, LinkedAccount.nickname, LinkedAccount.colour, LinkedAccount.timezone,
                   LinkedAccount.status)
            .where(LinkedAccount.id.in_(principal.account_ids))
            .order_by(LinkedAccount.nickname)
        )
    )


def products_for(account_ids) -> list[Product]:
    if not account_ids:
        return []
    return list(
        db.session.scalars(
            select(Product).where(Product.linked_account_id.in_(account_ids)).order_by(Product.sku)
        )
    )


def sku_exists(account_ids, sku: str) -> bool:
    return bool(account_ids) and db.session.scalar(
        select(func.count(Product.id)).where(Product.linked_account_id.in_(account_ids), Product.sku == sku)
    ) > 0


def currencies_for(account_ids) -> list[str]:
    if not account_ids:
        return []
    found = set(
        db.session.scalars(
            select(DailySales.currency).where(DailySales.linked_account_id.in_(account_ids)).distinct()
        )
    )
    found |= set(
        db.session.scalars(
            select(Product.currency).where(Product.linked_account_id.in_(account_ids)).distinct()
        )
    )
    return sorted(found)


def with_accounts(filters: Filters, account_ids) -> Filters:
    return replace(filters, account_ids=tuple(account_ids))
