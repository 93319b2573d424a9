"""Benchmark: the timers sweep and the customer's order page on the large data set.

    .venv/bin/python bench/support_sweep.py [--source /work/bench-data/L.db] [--tickets 400]

Copies the (read-only) benchmark database to a scratch directory, then measures:
  1. the idle sweep (the query the worker runs every minute) at the data set's own "now";
  2. a catch-up sweep after a weekend of downtime: per-ticket cost of each automatic step,
     including the two mails it renders into the outbox;
  3. the order lookup (receipt + email) for right and wrong pairs;
  4. the whole order page (lookup POST, then GET /support/order) through the WSGI app.
Prints a Markdown table; paste it into bench/results/support.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PORTAL_ENV", "testing")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="/work/bench-data/L.db")
    parser.add_argument("--tickets", type=int, default=400, help="tickets to push through the catch-up")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--data-now", default="2026-11-20T17:00:00+00:00", help="the data set's --now")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on the copy first (planner statistics)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="support-bench-"))
    db_path = scratch / "L.db"
    started = time.perf_counter()
    shutil.copyfile(args.source, db_path)
    print(f"copied {args.source} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if args.analyze:
        import sqlite3

        with sqlite3.connect(db_path) as conn:
            conn.execute("ANALYZE")

    from sqlalchemy import func, select, text

    from portal import create_app
    from portal.extensions import db
    from portal.support import services as support
    from portal.tickets import sweep
    from portal.tickets.models import Ticket
    from portal.transactions.models import Transaction

    app = create_app({
        "ENV": "testing", "TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "BASE_URL": "http://bench.local",
    })
    rows = []
    data_now = datetime.fromisoformat(args.data_now)
    with app.app_context():
        tickets = db.session.scalar(select(func.count(Ticket.id)))
        txns = db.session.scalar(select(func.count(Transaction.id)))

        # 1. Idle sweep at the data set's own time: the query every minute.
        times = [timed(sweep.due_tickets, data_now)[0] for _ in range(7)]
        due_now = len(sweep.due_tickets(data_now, limit=100000))
        plan = db.session.execute(text("EXPLAIN QUERY PLAN " + str(
            sweep.due_query(data_now).compile(db.engine, compile_kwargs={"literal_binds": True})))).all()
        db.session.commit()
        rows.append(("Due query (every minute), 200k tickets", f"{statistics.median(times):.1f} ms median of 7",
                     f"{due_now} due; plan: {' / '.join(r[-1] for r in plan)}"))

        # 2. Catch-up after a weekend of downtime: Monday 18:00 UTC.
        monday = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
        page = sweep.due_tickets(monday, limit=100000)
        per_ticket, steps = [], 0
        for _, ticket_id in page[: args.tickets]:
            ms, done = timed(sweep._run_one, ticket_id, monday)
            per_ticket.append(ms)
            steps += len(done)
        rows.append((f"Catch-up after the weekend: {len(page)} tickets due; first {len(per_ticket)} swept",
                     f"{statistics.median(per_ticket):.1f} ms median, p95 {pct(per_ticket, 95):.1f} ms per ticket",
                     f"{steps} steps, {sum(per_ticket) / 1000:.1f} s total, 2 mails per step; "
                     f"≈ {len(page) * statistics.mean(per_ticket) / 1000 / 60:.1f} min for all"))

        # 3. Order lookup.
        rng = random.Random(7)
        max_id = db.session.scalar(select(func.max(Transaction.id)))
        picks = []
        while len(picks) < args.orders:
            txn = db.session.get(Transaction, rng.randint(1, max_id))
            if txn is not None and txn.txn_type == "SALE":
                picks.append((txn.receipt, txn.customer_email))
        db.session.commit()
        right = [timed(support.find_order, r, e)[0] for r, e in picks]
        wrong = [timed(support.find_order, r, "nobody@example.com")[0] for r, _ in picks]
        db.session.commit()
        rows.append(("Order lookup, right pair", f"{statistics.median(right):.2f} ms median, p95 {pct(right, 95):.2f} ms",
                     f"{len(right)} orders of {txns} transactions"))
        rows.append(("Order lookup, wrong pair", f"{statistics.median(wrong):.2f} ms median, p95 {pct(wrong, 95):.2f} ms",
                     "same query, same cost: no timing hint"))

    # 4. The whole order page through the app (lookup POST + GET /support/order).
    client = app.test_client()
    pages = []
    for receipt, email in picks[:100]:
        client.post("/support/leave")
        assert client.post("/support", data={"receipt": receipt, "email": email}).status_code == 303
        ms, response = timed(client.get, "/support/order")
        assert response.status_code == 200
        pages.append(ms)
    rows.append(("GET /support/order (order, charges, tickets)",
                 f"{statistics.median(pages):.1f} ms median, p95 {pct(pages, 95):.1f} ms", "100 random orders"))

    print(f"Machine: {platform.platform()}, {os.cpu_count()} cores (nproc), Python {platform.python_version()}; "
          f"{datetime.now(timezone.utc):%Y-%m-%d}; data: {tickets} tickets, {txns} transactions (SQLite, WAL); "
          f"planner statistics (ANALYZE): {'yes' if args.analyze else 'no'}\n")
    print("| What | Time | Notes |\n|---|---|---|")
    for what, measured, notes in rows:
        print(f"| {what} | {measured} | {notes} |")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
