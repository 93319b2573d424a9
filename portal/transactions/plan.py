"""The search's plan on SQLite, which has no statistics unless someone runs ANALYZE: without
them it answers ``linked_account_id IN (...) ORDER BY occurred_at`` by sorting every row of those
accounts, and prefers any index that gives the ORDER BY over the one that finds three rows. So the
search picks its driving index itself: it probes the candidate indexes (an index-only count,
capped) and keeps the others out of the planner's reach with a unary ``+``. PostgreSQL plans
with its own statistics and gets the plain query (no hints there)."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from portal.extensions import db
from portal.transactions.filters import TextMatch, day_start
from portal.transactions.models import Transaction

PROBE_LIMIT = 2_000


def is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def hinted(column, on: bool):
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


def prefix(column, value: str, sqlite: bool):
    """``column`` starts with ``value``. SQLite: a range on the (binary) index. PostgreSQL:
    LIKE with the wildcards escaped (correct under any collation)."""
    if sqlite:
        return and_(column >= value, column < _upper_bound(value))
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


def ci_prefix(column, value: str, sqlite: bool):
    """``column`` starts with ``value``, ignoring case (``value`` lower-cased). PostgreSQL: ILIKE.
    SQLite: LIKE (which folds ASCII case, as nicknames are) and, so that the column's binary index
    can find the rows, ranges for every case variant of the first letters ("jo": "JO", "Jo",
    "jO", "jo")."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if not sqlite:
        return column.ilike(escaped, escape="\\")
    head = value[:CASE_VARIANT_LETTERS]
    variants = sorted(
        {"".join(p) for p in product(*[sorted({c, c.lower(), c.upper()}) for c in head])}
    )
    return and_(
        or_(*[prefix(column, v, True) for v in variants]),
        column.like(escaped, escape="\\"),
    )


CASE_VARIANT_LETTERS = 3  # at most 2**3 index ranges


# The indexes a search can be driven by (SQLite only); the other indexed columns get a "+".
DRIVER_COLUMNS = {
    "receipt": ("receipt",),
    "email": ("customer_email",),
    "name": ("customer_last_name_lc",),
    "full_name": ("customer_last_name_lc", "customer_first_name_lc"),
    "first_name": ("customer_first_name_lc",),
    "any_name": ("customer_last_name_lc", "customer_first_name_lc"),
    "receipt_or_name": ("receipt", "customer_last_name_lc", "customer_first_name_lc"),
    "affiliate": ("affiliate",),
    "account_type": ("linked_account_id", "txn_type", "occurred_at"),
    "account": ("linked_account_id", "occurred_at"),
    "type": ("txn_type", "occurred_at"),
    "time": ("occurred_at",),
}
INDEXED = (
    "linked_account_id",
    "occurred_at",
    "txn_type",
    "receipt",
    "customer_email",
    "customer_last_name_lc",
    "customer_first_name_lc",
    "affiliate",
    "sale_receipt",
)


def no_index(column):
    """On SQLite, keep the planner off ``column``'s index."""
    return hinted(column, is_sqlite())


def _surely_selective(m: TextMatch) -> bool:
    """A long receipt prefix or an email with its @ matches a handful of rows: no need to
    probe the index before using it."""
    return (m.kind == "receipt" and len(m.value) >= 6) or (m.kind == "email" and "@" in m.value[1:])


def _probe(conds) -> int:
    """How many rows match ``conds`` (index-only), counting no further than PROBE_LIMIT."""
    inner = select(literal(1)).select_from(Transaction).where(*conds).limit(PROBE_LIMIT)
    return db.session.scalar(select(func.count()).select_from(inner.subquery()))


def choose(search, counting: bool = False) -> str:
    """Pick the index that finds the fewest rows: probe each candidate (an index-only count,
    capped), else walk the accounts' rows newest first through a time index. ``counting`` with
    no date window: the count reads every match anyway, so the smallest candidate wins however
    many it finds (a walk through time would read every row of the accounts)."""
    f = search.filters
    m = search.match
    if m is not None and not f.affiliate and _surely_selective(m):
        return m.kind
    candidates: dict[str, list] = {}
    if m is not None:
        if m.kind == "receipt":
            candidates["receipt"] = [prefix(Transaction.receipt, m.value, True)]
        elif m.kind == "email":
            candidates["email"] = [prefix(Transaction.customer_email, m.value, True)]
        elif m.kind == "name" and m.first:
            candidates["full_name"] = [
                prefix(Transaction.customer_last_name_lc, m.value, True),
                prefix(Transaction.customer_first_name_lc, m.first, True),
            ]
            candidates["first_name"] = [prefix(Transaction.customer_first_name_lc, m.first, True)]
        elif m.kind == "name":
            candidates["any_name"] = [
                or_(
                    prefix(Transaction.customer_last_name_lc, m.value, True),
                    prefix(Transaction.customer_first_name_lc, m.value, True),
                )
            ]
        else:
            candidates["receipt_or_name"] = [
                or_(
                    prefix(Transaction.receipt, m.value.upper(), True),
                    prefix(Transaction.customer_last_name_lc, m.value, True),
                    prefix(Transaction.customer_first_name_lc, m.value, True),
                )
            ]
    if f.affiliate:
        candidates["affiliate"] = [ci_prefix(Transaction.affiliate, f.affiliate_value, True)]
    # Counting without a date window: the time walk would read every row of the accounts.
    wide = counting and not (f.date_from or f.date_to)
    best, best_n = None, PROBE_LIMIT + (1 if wide else 0)
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
        if len(f.types) == 1 or (
            f.types
            and _probe(
                [
                    Transaction.linked_account_id == search.account_ids[0],
                    Transaction.txn_type.in_(f.types),
                    *window,
                ]
            )
            < PROBE_LIMIT
        ):
            return "account_type"
        return "account"
    if len(f.types) == 1 or (
        f.types and _probe([Transaction.txn_type.in_(f.types), *window]) < PROBE_LIMIT
    ):
        return "type"
    return "time"
