"""Keeping the report tables in step with the ticket event log and the transactions.

Live path: a SQLAlchemy ``after_execute`` listener sees every INSERT into ``ticket_events`` —
those the ticket services flush through the ORM and bulk inserts alike (the demo generator, a
ClickBank import) — and, on the same connection and so in the same transaction, writes the facts
of the new events and adds them to the hourly and daily counts. If the transaction rolls back,
so do the report rows. The same goes for ``transactions`` (affiliate cohorts); subscriptions
that become cancelled are caught by a ``before_flush`` listener (the old status is needed).

Rebuild: :func:`rebuild` throws the report tables away and derives them again from the whole log
(``flask --app portal reports rebuild``). Use it after loading data with the listeners paused
(:func:`paused`) or if the tables were ever lost.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, event, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from portal.accounts.models import LinkedAccount
from portal.reports.metrics import SAVE_LOST, SAVED, Event, Fact, History, aggregate_metrics, derive
from portal.reports.models import AffiliateDaily, ReportActorHourly, ReportDaily, ReportFact, ReportHourly
from portal.tickets.models import TicketEvent
from portal.transactions.models import Subscription, Transaction

log = logging.getLogger(__name__)

_paused: ContextVar[bool] = ContextVar("reports_paused", default=False)
_busy: ContextVar[bool] = ContextVar("reports_busy", default=False)

FACTS = ReportFact.__table__
HOURLY = ReportHourly.__table__
ACTOR_HOURLY = ReportActorHourly.__table__
DAILY = ReportDaily.__table__
AFFILIATE = AffiliateDaily.__table__
EVENTS = TicketEvent.__table__
TXNS = Transaction.__table__
SUBS = Subscription.__table__
BATCH = 5000
ALL_ACTORS = "*"


@contextmanager
def paused():
    """Inserts made inside are not aggregated (call :func:`rebuild` afterwards)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _hour(moment: datetime) -> int:
    return int(_utc(moment).timestamp() // 3600)


def _masters(conn: Connection, account_ids) -> dict[int, int]:
    ids = sorted({int(a) for a in account_ids})
    if not ids:
        return {}
    rows = conn.execute(
        select(LinkedAccount.id, LinkedAccount.master_account_id).where(LinkedAccount.id.in_(ids))
    )
    return {r[0]: r[1] for r in rows}


def _upsert(conn: Connection, table, keys: list[str], counters: list[str], rows: list[dict]) -> None:
    """Add ``counters`` of ``rows`` to existing rows (atomic: concurrent writers add, never lose)."""
    if not rows:
        return
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert_(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in counters}
    )
    for start in range(0, len(rows), BATCH):
        conn.execute(stmt, rows[start:start + BATCH])


# ---------------------------------------------------------------------------------------------
# Ticket events -> facts -> counts


def _fact_row(fact: Fact, master_id: int) -> dict:
    return {
        "event_id": fact.event_id, "ticket_id": fact.ticket_id, "master_id": master_id,
        "account_id": fact.account_id, "at": _utc(fact.at), "hour": _hour(fact.at),
        "metric": fact.metric, "ticket_type": fact.ticket_type, "actor": fact.actor,
        "actor_kind": fact.actor_kind, "seconds": fact.seconds,
        "prev_at": _utc(fact.prev_at) if fact.prev_at else None, "gap_class": fact.gap_class,
    }


class Counter:
    """Hourly and daily increments for fact rows, one entry per key."""

    def __init__(self):
        self.hourly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        self.actor_hourly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        self.daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, row: dict, sign: int = 1) -> None:
        metrics = aggregate_metrics(row["metric"], row["prev_at"])
        seconds = sign * (row["seconds"] or 0)
        master, hour, ticket_type = row["master_id"], row["hour"], row["ticket_type"]
        day = hour // 24
        actor = row["actor"]
        person = actor.startswith("u")
        for m in metrics:
            h = self.hourly[(master, m, hour, ticket_type, row["actor_kind"])]
            h[0] += sign
            h[1] += seconds
            if person:
                a = self.actor_hourly[(master, actor, m, hour, ticket_type)]
                a[0] += sign
                a[1] += seconds
            for account in (row["account_id"], 0):
                for who in (actor, ALL_ACTORS):
                    d = self.daily[(master, account, m, day, who, ticket_type)]
                    d[0] += sign
                    d[1] += seconds

    def rows(self) -> tuple[list[dict], list[dict], list[dict]]:
        return list(self.hourly_rows()), list(self.daily_rows()), list(self.actor_hourly_rows())

    def actor_hourly_rows(self):
        for k in sorted(self.actor_hourly):
            v = self.actor_hourly[k]
            yield {"master_id": k[0], "actor": k[1], "metric": k[2], "hour": k[3], "ticket_type": k[4],
                   "n": v[0], "seconds": v[1]}

    def hourly_rows(self):
        for k in sorted(self.hourly):
            v = self.hourly[k]
            yield {"master_id": k[0], "metric": k[1], "hour": k[2], "ticket_type": k[3], "actor_kind": k[4],
                   "n": v[0], "seconds": v[1]}

    def daily_rows(self):
        for k in sorted(self.daily):
            v = self.daily[k]
            yield {"master_id": k[0], "account_id": k[1], "metric": k[2], "day": k[3], "actor": k[4],
                   "ticket_type": k[5], "n": v[0], "seconds": v[1]}


def count_rows(fact_rows: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Hourly and daily increments for a batch of fact rows, one row per key."""
    counter = Counter()
    for row in fact_rows:
        counter.add(row)
    return counter.rows()


def _event_from_row(row: dict) -> Event:
    return Event(
        id=row.get("id") or 0, ticket_id=row["ticket_id"], account_id=row["linked_account_id"],
        at=_utc(row["at"]), kind=row["kind"], actor_kind=row["actor_kind"],
        actor_user_id=row.get("actor_user_id"), ticket_type=row["ticket_type"],
        from_value=row.get("from_value"), to_value=row.get("to_value"),
    )


def _histories(conn: Connection, ticket_ids) -> dict[int, History]:
    """The history of each ticket, from the facts already stored."""
    histories: dict[int, History] = defaultdict(History)
    ids = sorted(set(ticket_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(
            select(FACTS.c.ticket_id, FACTS.c.metric, FACTS.c.at, FACTS.c.actor, FACTS.c.actor_kind,
                   FACTS.c.event_id, FACTS.c.account_id, FACTS.c.ticket_type)
            .where(FACTS.c.ticket_id.in_(chunk))
            .order_by(FACTS.c.ticket_id, FACTS.c.at)
        )
        for ticket_id, metric, at, actor, actor_kind, event_id, account_id, ticket_type in rows:
            histories[ticket_id].absorb(
                Fact(event_id, ticket_id, account_id, _utc(at), metric, ticket_type, actor, actor_kind)
            )
    return histories


def _missing_ids(conn: Connection, rows: list[dict]) -> None:
    """ORM inserts do not carry the new ids in their parameters: the rows just inserted are the
    newest events of their tickets in this transaction (ticket changes are serialised by the
    ticket's version check), so read them back in order."""
    need: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if not row.get("id"):
            need[row["ticket_id"]].append(row)
    for ticket_id, pending in need.items():
        ids = conn.execute(
            select(EVENTS.c.id).where(EVENTS.c.ticket_id == ticket_id)
            .order_by(EVENTS.c.id.desc()).limit(len(pending))
        ).scalars().all()
        for row, event_id in zip(pending, sorted(ids)):
            row["id"] = event_id


def process_events(conn: Connection, rows: list[dict]) -> int:
    """Derive and store the facts and counts of newly inserted event rows (parameter dicts)."""
    rows = [dict(r) for r in rows]
    if not rows:
        return 0
    _missing_ids(conn, rows)
    masters = _masters(conn, (r["linked_account_id"] for r in rows))
    histories = _histories(conn, (r["ticket_id"] for r in rows))
    fact_rows: list[dict] = []
    events = sorted((_event_from_row(r) for r in rows), key=lambda e: (e.ticket_id, e.at, e.id))
    for ev in events:
        master = masters.get(ev.account_id)
        if master is None:
            continue
        for fact in derive(ev, histories[ev.ticket_id]):
            fact_rows.append(_fact_row(fact, master))
    _store(conn, fact_rows)
    return len(fact_rows)


def settle(fact_rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Apply the ``save_lost`` facts of a batch (see :mod:`portal.reports.metrics`): a save made
    in the same batch turns into ``save_lost`` in place. Returns the rows to store and the
    retractions of saves stored earlier (the live path changes those in the table). The live
    path and the rebuild both go through here, so they store the same rows."""
    saves = {(r["ticket_id"], r["event_id"]): r for r in fact_rows if r["metric"] == SAVED}
    rows, earlier = [], []
    for r in fact_rows:
        if r["metric"] != SAVE_LOST:
            rows.append(r)
            continue
        save = saves.pop((r["ticket_id"], r["event_id"]), None)
        if save is not None:
            save["metric"] = SAVE_LOST
        else:
            earlier.append(r)
    return rows, earlier


def _store(conn: Connection, fact_rows: list[dict]) -> None:
    if not fact_rows:
        return
    fact_rows, earlier = settle(fact_rows)
    for start in range(0, len(fact_rows), BATCH):
        conn.execute(insert(FACTS), fact_rows[start:start + BATCH])
    counter = Counter()
    for row in fact_rows:
        counter.add(row)
    for row in earlier:  # a stored save taken back: its count moves from saved to save_lost
        changed = conn.execute(
            update(FACTS)
            .where(FACTS.c.ticket_id == row["ticket_id"], FACTS.c.event_id == row["event_id"],
                   FACTS.c.metric == SAVED)
            .values(metric=SAVE_LOST)
        ).rowcount
        if changed:
            counter.add({**row, "metric": SAVED}, sign=-1)
            counter.add(row)
    hourly, daily, actor_hourly = counter.rows()
    _upsert(conn, HOURLY, HOURLY_KEYS, ["n", "seconds"], hourly)
    _upsert(conn, DAILY, DAILY_KEYS, ["n", "seconds"], daily)
    _upsert(conn, ACTOR_HOURLY, ACTOR_HOURLY_KEYS, ["n", "seconds"], actor_hourly)
    if earlier:  # a count taken down to nothing leaves no row, as a rebuild would not write one
        for table, keys, rows in ((HOURLY, HOURLY_KEYS, hourly), (DAILY, DAILY_KEYS, daily),
                                  (ACTOR_HOURLY, ACTOR_HOURLY_KEYS, actor_hourly)):
            for row in rows:
                if row["n"] < 0:
                    conn.execute(delete(table).where(
                        *[table.c[k] == row[k] for k in keys], table.c.n == 0, table.c.seconds == 0))


# ---------------------------------------------------------------------------------------------
# Transactions -> affiliate cohorts


AFFILIATE_KEYS = ["master_id", "account_id", "day", "affiliate", "currency"]
AFFILIATE_COUNTERS = ["orders", "order_cents", "subscriptions", "payments", "refunded",
                      "charged_back", "cancelled"]


def _cohort_key(account_id: int, occurred_at: datetime, affiliate: str | None, currency: str) -> tuple:
    return (account_id, _hour(occurred_at) // 24, (affiliate or "")[:32], currency)


def _sale_cohorts(conn: Connection, account_receipts: set[tuple[int, str]]) -> dict[tuple[int, str], tuple]:
    """The cohort (account, day, affiliate, currency) of each order, by its sale receipt."""
    found: dict[tuple[int, str], tuple] = {}
    by_account: dict[int, list[str]] = defaultdict(list)
    for account, receipt in account_receipts:
        by_account[account].append(receipt)
    for account, receipts in by_account.items():
        for start in range(0, len(receipts), 500):
            rows = conn.execute(
                select(TXNS.c.sale_receipt, TXNS.c.occurred_at, TXNS.c.affiliate, TXNS.c.currency)
                .where(TXNS.c.linked_account_id == account,
                       TXNS.c.sale_receipt.in_(receipts[start:start + 500]),
                       TXNS.c.txn_type == "SALE")
            )
            for receipt, at, affiliate, currency in rows:
                found[(account, receipt)] = _cohort_key(account, _utc(at), affiliate, currency)
    return found


def process_transactions(conn: Connection, rows: list[dict]) -> None:
    """Count new transactions into their order's cohort. A rebill adds a payment to the cohort of
    its sale; an order's first refund (or chargeback) marks it refunded."""
    increments: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    later = [r for r in rows if r.get("txn_type") in ("BILL", "RFND", "CGBK")]
    cohorts = _sale_cohorts(conn, {(r["linked_account_id"], r["sale_receipt"]) for r in later})
    reversals: dict[tuple[int, str, str], int] = defaultdict(int)
    for r in rows:
        if r.get("txn_type") in ("RFND", "CGBK"):
            reversals[(r["linked_account_id"], r["sale_receipt"], r["txn_type"])] += 1
    firsts = _first_reversals(conn, reversals)
    for r in rows:
        kind = r.get("txn_type")
        if kind == "SALE":
            key = _cohort_key(r["linked_account_id"], _utc(r["occurred_at"]), r.get("affiliate"),
                              r.get("currency") or "USD")
            inc = increments[key]
            inc["orders"] += 1
            inc["order_cents"] += int(r.get("amount_cents") or 0)
            if r.get("recurring"):
                inc["subscriptions"] += 1
                inc["payments"] += 1
        elif kind in ("BILL", "RFND", "CGBK"):
            key = cohorts.get((r["linked_account_id"], r["sale_receipt"]))
            if key is None:
                continue
            if kind == "BILL":
                increments[key]["payments"] += 1
            elif (r["linked_account_id"], r["sale_receipt"], kind) in firsts:
                firsts.discard((r["linked_account_id"], r["sale_receipt"], kind))
                increments[key]["refunded" if kind == "RFND" else "charged_back"] += 1
    _store_affiliate(conn, increments)


def _first_reversals(conn: Connection, batch: dict[tuple[int, str, str], int]) -> set:
    """Orders whose first refund (chargeback) is in this batch: the table holds only this batch's.
    One grouped query per account and 500 receipts (bulk loads bring thousands at once)."""
    by_account: dict[int, set[str]] = defaultdict(set)
    for account, receipt, _kind in batch:
        by_account[account].add(receipt)
    totals: dict[tuple[int, str, str], int] = {}
    for account, receipts in by_account.items():
        receipts = sorted(receipts)
        for start in range(0, len(receipts), 500):
            rows = conn.execute(
                select(TXNS.c.sale_receipt, TXNS.c.txn_type, func.count())
                .where(TXNS.c.linked_account_id == account,
                       TXNS.c.sale_receipt.in_(receipts[start:start + 500]),
                       TXNS.c.txn_type.in_(["RFND", "CGBK"]))
                .group_by(TXNS.c.sale_receipt, TXNS.c.txn_type)
            )
            for receipt, kind, n in rows:
                totals[(account, receipt, kind)] = n
    return {key for key, in_batch in batch.items() if totals.get(key, 0) == in_batch}


def _store_affiliate(conn: Connection, increments: dict[tuple, dict[str, int]]) -> None:
    """Add cohort counters for their account and for all accounts of its Master Account."""
    masters = _masters(conn, (key[0] for key in increments))
    totals: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (account, day, affiliate, currency), inc in increments.items():
        master = masters.get(account)
        if master is None or not any(inc.values()):
            continue
        for key in ((master, account, day, affiliate, currency), (master, 0, day, affiliate, currency)):
            for c in AFFILIATE_COUNTERS:
                totals[key][c] += int(inc.get(c, 0))
    rows = [dict(zip(AFFILIATE_KEYS, key), **counters) for key, counters in sorted(totals.items())]
    _upsert(conn, AFFILIATE, AFFILIATE_KEYS, AFFILIATE_COUNTERS, rows)


def _cancellations(conn: Connection, changes: list[tuple[int, int]]) -> None:
    """``changes``: (sale transaction id, +1 or -1) for subscriptions that became (un)cancelled."""
    if not changes:
        return
    ids = sorted({sale_id for sale_id, _ in changes})
    sales = {
        r[0]: r for r in conn.execute(
            select(TXNS.c.id, TXNS.c.linked_account_id, TXNS.c.occurred_at, TXNS.c.affiliate,
                   TXNS.c.currency, TXNS.c.txn_type).where(TXNS.c.id.in_(ids)))
    }
    increments: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sale_id, delta in changes:
        sale = sales.get(sale_id)
        if sale is None or sale.txn_type != "SALE":
            continue
        increments[_cohort_key(sale.linked_account_id, _utc(sale.occurred_at), sale.affiliate,
                               sale.currency)]["cancelled"] += delta
    _store_affiliate(conn, increments)


# ---------------------------------------------------------------------------------------------
# Listeners


def _insert_rows(multiparams, params) -> list[dict]:
    if multiparams:
        return [dict(p) for p in multiparams if isinstance(p, dict)]
    return [dict(params)] if params else []


def _after_execute(conn, clauseelement, multiparams, params, execution_options, result):
    if _paused.get() or _busy.get() or not getattr(clauseelement, "is_insert", False):
        return
    table = getattr(clauseelement, "table", None)
    name = getattr(table, "name", None)
    if name not in ("ticket_events", "transactions", "subscriptions"):
        return
    rows = _insert_rows(multiparams, params)
    if not rows:
        return
    token = _busy.set(True)
    try:
        if name == "ticket_events":
            process_events(conn, rows)
        elif name == "transactions":
            process_transactions(conn, rows)
        else:
            cancelled = [(r["sale_transaction_id"], 1) for r in rows if r.get("status") == "cancelled"]
            _cancellations(conn, cancelled)
    finally:
        _busy.reset(token)


def _before_flush(session: Session, flush_context, instances):
    if _paused.get():
        return
    from sqlalchemy import inspect

    changes = []
    for obj in session.dirty:
        if not isinstance(obj, Subscription):
            continue
        history = inspect(obj).attrs.status.history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = obj.status
        if (old == "cancelled") != (new == "cancelled"):
            changes.append((obj.sale_transaction_id, 1 if new == "cancelled" else -1))
    if changes:
        _cancellations(session.connection(), changes)


def install() -> None:
    """Register the listeners once per process (every app and engine shares them)."""
    if not event.contains(Engine, "after_execute", _after_execute):
        event.listen(Engine, "after_execute", _after_execute)
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


# ---------------------------------------------------------------------------------------------
# Rebuild


HOURLY_KEYS = ["master_id", "metric", "hour", "ticket_type", "actor_kind"]
ACTOR_HOURLY_KEYS = ["master_id", "actor", "metric", "hour", "ticket_type"]
DAILY_KEYS = ["master_id", "account_id", "metric", "day", "actor", "ticket_type"]


def rebuild(conn: Connection, progress=lambda msg: None) -> dict[str, int]:
    """Recompute every report table from the event log and the transactions, in the caller's
    transaction (readers see the old numbers until it commits). The facts' indexes are dropped
    while the facts are written and built again afterwards: much faster than keeping them."""
    indexes = sorted(FACTS.indexes, key=lambda ix: ix.name)
    for index in indexes:
        index.drop(conn)
    for table in (FACTS, HOURLY, ACTOR_HOURLY, DAILY, AFFILIATE):
        conn.execute(delete(table))
    masters = dict(conn.execute(select(LinkedAccount.id, LinkedAccount.master_account_id)).all())
    cols = [EVENTS.c.id, EVENTS.c.ticket_id, EVENTS.c.linked_account_id, EVENTS.c.at, EVENTS.c.kind,
            EVENTS.c.actor_kind, EVENTS.c.actor_user_id, EVENTS.c.ticket_type, EVENTS.c.from_value,
            EVENTS.c.to_value]
    result = conn.execute(
        select(*cols).order_by(EVENTS.c.ticket_id, EVENTS.c.at, EVENTS.c.id).execution_options(yield_per=BATCH)
    )
    counter = Counter()
    current, history = None, History()
    buffer: list[dict] = []
    ticket_rows: list[dict] = []  # the current ticket's facts (a later event may take a save back)

    def ticket_done():
        rows, _ = settle(ticket_rows)  # the saves taken back are all in this ticket's rows
        for fact_row in rows:
            counter.add(fact_row)
        buffer.extend(rows)
        ticket_rows.clear()

    events = facts = 0
    for row in result:
        ev = Event(row.id, row.ticket_id, row.linked_account_id, _utc(row.at), row.kind, row.actor_kind,
                   row.actor_user_id, row.ticket_type, row.from_value, row.to_value)
        if ev.ticket_id != current:
            ticket_done()
            current, history = ev.ticket_id, History()
        events += 1
        master = masters.get(ev.account_id)
        if master is None:
            continue
        for fact in derive(ev, history):
            ticket_rows.append(_fact_row(fact, master))
        if len(buffer) >= BATCH:
            facts += len(buffer)
            conn.execute(insert(FACTS), buffer)
            buffer = []
            if events % (BATCH * 40) < BATCH:
                progress(f"{events} events")
    ticket_done()
    if buffer:
        facts += len(buffer)
        conn.execute(insert(FACTS), buffer)
    result.close()
    progress("indexes")
    for index in indexes:
        index.create(conn)
    progress("hourly and daily counts")
    for table, rows in ((HOURLY, counter.hourly_rows()), (ACTOR_HOURLY, counter.actor_hourly_rows()),
                        (DAILY, counter.daily_rows())):
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
    counter = None
    progress("affiliate cohorts")
    orders = _rebuild_affiliates(conn)
    return {"events": events, "facts": facts, "orders": orders}


def _rebuild_affiliates(conn: Connection) -> int:
    """Cohorts straight from the transactions, in one pass over them: each order with its
    payments, whether it was refunded or charged back, and whether its subscription is
    cancelled."""
    t = TXNS.c
    orders: dict[tuple[int, str], list] = {}
    later: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = select(t.id, t.linked_account_id, t.sale_receipt, t.txn_type, t.occurred_at, t.affiliate,
                   t.currency, t.amount_cents, t.recurring).where(t.txn_type.in_(["SALE", "BILL", "RFND", "CGBK"]))
    for r in conn.execute(query.execution_options(yield_per=BATCH)):
        key = (r.linked_account_id, r.sale_receipt)
        if r.txn_type == "SALE":
            orders[key] = [r.id, r.occurred_at, r.affiliate, r.currency, r.amount_cents, r.recurring]
        else:
            later[key][r.txn_type] += 1
    statuses = dict(conn.execute(select(SUBS.c.sale_transaction_id, SUBS.c.status)).all())
    increments: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (account, receipt), (sale_id, at, affiliate, currency, amount, recurring) in orders.items():
        extra = later.get((account, receipt), {})
        order = OrderRow(amount, recurring, extra.get("BILL", 0), extra.get("RFND", 0), extra.get("CGBK", 0),
                         statuses.get(sale_id))
        add_order(increments[_cohort_key(account, _utc(at), affiliate, currency)], order)
    _store_affiliate(conn, increments)
    return len(orders)


@dataclass
class OrderRow:
    amount_cents: int
    recurring: bool
    bills: int
    refunds: int
    chargebacks: int
    sub_status: str | None
    affiliate: str | None = None
    currency: str = "USD"


def add_order(inc: dict[str, int], r) -> None:
    """Count one order (a row with amount_cents, recurring, bills, refunds, chargebacks,
    sub_status) into a cohort's counters; the report's partial days use it too."""
    inc["orders"] += 1
    inc["order_cents"] += int(r.amount_cents or 0)
    if r.recurring:
        inc["subscriptions"] += 1
        inc["payments"] += 1 + int(r.bills or 0)
        if r.sub_status == "cancelled":
            inc["cancelled"] += 1
    if r.refunds:
        inc["refunded"] += 1
    if r.chargebacks:
        inc["charged_back"] += 1


__all__ = ["install", "paused", "process_events", "process_transactions", "rebuild", "count_rows",
           "add_order", "settle"]
