"""Benchmark: sandbox billing — the idle run every minute, and a catch-up after downtime.

    .venv/bin/python bench/billing_catchup.py [--size M] [--days 3]

Builds the demo data set of ``--size`` in a scratch directory with its "now" ``--days`` ago (so
that many rebills fell due since, as after a worker outage), migrated like production, then
measures:
  1. the idle billing run at the demo's own "now" (the query the worker runs every minute);
  2. the catch-up run at "now + days": every rebill, its daily totals and its receipt mail,
     one transaction each;
  3. a second run at the same time (nothing left to do).
Prints a Markdown table; paste it into bench/results/billing.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="M", choices=["demo", "M", "L"])
    parser.add_argument("--days", type=float, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    os.environ["PORTAL_INSTANCE_PATH"] = str(scratch)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.demo import generator
    from portal.extensions import db
    from portal.transactions import billing
    from portal.transactions.models import Subscription

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch / 'portal.db'}"})
    app.instance_path = str(scratch)
    start = datetime(2026, 11, 19, 12, 0, tzinfo=timezone.utc)
    later = start + timedelta(days=args.days)
    rows = []
    with app.app_context():
        upgrade()
        generator.generate(args.size, now=start)
        subs = db.session.query(Subscription).count()
        for label, now in (("idle run at the demo's now", start),
                           (f"catch-up after {args.days:g} days", later),
                           ("second run, same time", later)):
            t0 = time.perf_counter()
            counts = billing.bill_due(now)
            ms = (time.perf_counter() - t0) * 1000
            billed = counts.get("billed", 0)
            per = f"{ms / billed:.1f} ms" if billed else "—"
            rows.append(f"| {label} | {counts or '{}'} | {ms:,.0f} ms | {per} |")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"SQLite, {time.strftime('%Y-%m-%d')}; data: demo size {args.size}, {subs:,} subscriptions\n")
    print("| run | result | time | per rebill |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
