"""Benchmark of the Tickets tab at the large size (DOMAIN.md §5; issue 6).

Targets, server time per request (the app runs in-process: routing, session and login check,
queries, template rendering — everything but the network):

- queue with any filter combination: p95 <= 50 ms
- search by email, ticket number or receipt: p95 <= 20 ms
- ticket page: p95 <= 30 ms

Usage::

    .venv/bin/python bench/tickets_bench.py                       # copies /work/bench-data/L.db
    .venv/bin/python bench/tickets_bench.py --db /tmp/L-copy.db   # reuse a copy (migrated here)
    .venv/bin/python bench/tickets_bench.py --requests 400 --out bench/results/tickets.md

The source database is never written: the benchmark works on a copy, brought to the current
schema with ``flask db upgrade`` (the queue's indexes), because logging in and the session
touch write.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SOURCE = Path("/work/bench-data/L.db")
PASSWORD = "Demo!!Pass12"
TARGETS = {"queue": 50.0, "search": 20.0, "ticket": 30.0}
HX = {"HX-Request": "true"}


def prepare(source: Path, db: Path | None) -> Path:
    """A migrated copy of ``source`` (or ``db`` as given, migrated)."""
    if db is None:
        db = Path("/tmp") / f"tickets-bench-{source.stem}.db"
        if not db.exists():
            print(f"copying {source} -> {db} …", flush=True)
            with (
                sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
                sqlite3.connect(db) as dst,
            ):
                src.backup(dst)
    env = {
        **os.environ,
        "PORTAL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{db}",
        "PORTAL_INSTANCE_PATH": str(db.parent / (db.stem + "-instance")),
    }
    flask = Path(sys.executable).parent / "flask"
    subprocess.run(
        [str(flask), "--app", "portal", "db", "upgrade"],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return db


def make_app(db: Path):
    os.environ.setdefault("PORTAL_ENV", "testing")
    from portal import create_app

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db}",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "TESTING": False,
        }
    )
    app.instance_path = str(db.parent / (db.stem + "-instance"))
    return app


def logged_in(app, email: str):
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert response.status_code in (302, 303), f"login as {email} failed: {response.status_code}"
    return client


CPU: dict[str, list[float]] = {}


def timed(client, url: str, headers=None, scenario: str = "") -> float:
    """Wall time of one request (ms); its CPU time is kept in ``CPU[scenario]``: on a shared
    machine the wall time also counts waiting for a core, the CPU time does not."""
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(url, headers=headers or {})
    elapsed = (time.perf_counter() - started) * 1000
    CPU.setdefault(scenario, []).append((time.process_time() - cpu) * 1000)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return elapsed


def queue_urls(rng: random.Random, nicknames: list[str], n: int) -> list[tuple[str, dict]]:
    """Random filter combinations as the form sends them; half full pages, half htmx fragments;
    some second pages (a cursor from the first)."""
    urls = []
    subsets = [
        ("open", "reopened"),
        ("open",),
        ("reopened",),
        ("closed",),
        ("open", "closed"),
        ("reopened", "closed"),
        ("open", "reopened", "closed"),
        (),
    ]
    for _ in range(n):
        params = [("f", "1")]
        if rng.random() < 0.5:
            params.append(("type", rng.choice(["tech_support", "refund", "cancel"])))
        if rng.random() < 0.4:
            params.append(("product", rng.choice(["standard", "recurring"])))
        params += [("status", s) for s in rng.choice(subsets)]
        if rng.random() < 0.4:
            params.append(("vendor", rng.choice(nicknames)))
        if rng.random() < 0.2:
            params.append(("sort", rng.choice(["expiration", "closed"])))
        if rng.random() < 0.15:
            params = [("f", "1")]  # the default view
        urls.append(("/tickets/?" + urlencode(params), HX if rng.random() < 0.5 else {}))
    return urls


def search_terms(conn, rng: random.Random, n: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT id, customer_email, receipt FROM tickets WHERE id IN "
        "(SELECT abs(random()) % (SELECT max(id) FROM tickets) + 1 FROM tickets LIMIT ?)",
        (n * 2,),
    ).fetchall()
    terms = []
    kinds = ["email", "email_prefix", "ticket", "receipt", "receipt_prefix"]
    for i in range(n):
        ticket_id, email, receipt = rows[i % len(rows)]
        kind = kinds[i % len(kinds)]
        term = {
            "email": email.upper() if rng.random() < 0.3 else email,
            "email_prefix": email.split("@")[0],  # the whole local part, as people type it
            "ticket": str(ticket_id),
            "receipt": receipt.lower() if rng.random() < 0.3 else receipt,
            "receipt_prefix": receipt[:5],
        }[kind]
        terms.append((kind, term))
    return terms


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load": load,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--db", type=Path, help="a copy to use (migrated in place)")
    parser.add_argument("--requests", type=int, default=300, help="per scenario")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", type=Path, help="write the results as Markdown here")
    parser.add_argument(
        "--append", action="store_true", help="add to --out instead of replacing it"
    )
    parser.add_argument("--note", default="", help="a line about this run, printed under its title")
    args = parser.parse_args()

    db = prepare(args.source, args.db)
    app = make_app(db)
    rng = random.Random(args.seed)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("linked_accounts", "tickets", "ticket_events", "transactions")
    }
    nicknames = [r[0] for r in conn.execute("SELECT nickname FROM linked_accounts ORDER BY id")]
    clerk = conn.execute(
        "SELECT u.email, count(*) FROM users u JOIN clerk_account_access a ON a.user_id = u.id "
        "WHERE u.perm_orders_tickets AND NOT u.is_api_only "
        "GROUP BY u.id HAVING count(*) < 10 LIMIT 1"
    ).fetchone()
    ticket_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM tickets WHERE id IN "
            "(SELECT abs(random()) % (SELECT max(id) FROM tickets) + 1 FROM tickets LIMIT ?)",
            (args.requests * 2,),
        )
    ]
    terms = search_terms(conn, rng, args.requests)

    results: dict[str, dict] = {}
    if True:  # each request has its own app context and session, as in production
        owner = logged_in(app, "owner@demo.test")
        clerk_client = logged_in(app, clerk[0]) if clerk else None
        for url, headers in queue_urls(rng, nicknames, 20):  # warm-up
            timed(owner, url, headers)

        # Queue: any filter combination, as the owner (50 accounts) and a clerk (a few).
        samples, second_pages = [], []
        for url, headers in queue_urls(rng, nicknames, args.requests):
            client = owner if rng.random() < 0.7 or clerk_client is None else clerk_client
            samples.append(timed(client, url, headers, "queue"))
        for url, _ in queue_urls(rng, nicknames, max(30, args.requests // 5)):
            response = owner.get(url)
            html = response.get_data(as_text=True)
            marker = 'data-testid="show-more"'
            if marker in html:
                start = html.rfind('href="', 0, html.index(marker))
                next_url = html[start + 6 : html.index('"', start + 6)].replace("&amp;", "&")
                second_pages.append(timed(owner, next_url, HX, "queue_next_page"))
        results["queue"] = summary(samples)
        results["queue_next_page"] = summary(second_pages) if second_pages else None

        # Search: email, ticket number, receipt; exact and prefix.
        by_kind: dict[str, list[float]] = {}
        for kind, term in terms:
            url = "/tickets/?" + urlencode({"q": term})
            by_kind.setdefault(kind, []).append(timed(owner, url, HX, "search"))
        results["search"] = summary([s for v in by_kind.values() for s in v])
        for kind, values in by_kind.items():
            results[f"search_{kind}"] = summary(values)

        # Ticket page.
        results["ticket"] = summary(
            [timed(owner, f"/tickets/{t}", None, "ticket") for t in ticket_ids[: args.requests]]
        )

    for scenario in ("queue", "queue_next_page", "search", "ticket"):
        if CPU.get(scenario) and results.get(scenario):
            results[scenario]["cpu"] = summary(CPU[scenario])
    info = machine()
    report = render(results, info, counts, args, clerk)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.append and args.out.exists():
            report = (
                args.out.read_text().rstrip("\n")
                + "\n\n"
                + report.replace("# Tickets tab benchmark", "## Another run", 1)
            )
        args.out.write_text(report)
    failed = [k for k, target in TARGETS.items() if results[k]["p95"] > target]
    return 1 if failed else 0


def render(results, info, counts, args, clerk) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Tickets tab benchmark",
        "",
        f"Run {now} with `bench/tickets_bench.py --requests {args.requests} --seed {args.seed}`."
        + (f" {args.note}" if args.note else ""),
        f"Machine: {info['nproc']} cores (`nproc`), {info['cpu'] or 'unknown CPU'}, "
        f"Python {info['python']}, SQLite {info['sqlite']}; "
        f"1-minute load average at the end {info['load']:.1f} "
        "(the machine is shared with other work).",
        f"Data: `{args.source}` (copy, migrated): {counts['linked_accounts']} accounts, "
        f"{counts['tickets']:,} tickets, {counts['ticket_events']:,} ticket events, "
        f"{counts['transactions']:,} transactions.",
        "",
        "Server time per request, in-process (routing, session check, queries, rendering; "
        "no network), milliseconds; wall time, and the CPU time of the same requests "
        "(`time.process_time`: what the request costs, without the time spent waiting for a core "
        "on this shared machine). Queue: random filter combinations (type, product type, status "
        "subsets, vendor, order; half full pages, half htmx fragments), 70 % as the owner "
        "(all 50 accounts), 30 % as "
        f"`{clerk[0] if clerk else '-'}` ({clerk[1] if clerk else 0} accounts).",
        "",
        "| Scenario | n | p50 | p95 | p99 | max | CPU p50 | CPU p95 | target (p95) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "queue": "Queue, any filter combination",
        "queue_next_page": "Queue, next page (keyset cursor, htmx)",
        "search": "Search, all kinds",
        "search_email": "  email (exact, any case)",
        "search_email_prefix": "  email prefix (local part)",
        "search_ticket": "  ticket number",
        "search_receipt": "  receipt (exact, any case)",
        "search_receipt_prefix": "  receipt prefix (5 characters)",
        "ticket": "Ticket page",
    }
    for key, label in names.items():
        r = results.get(key)
        if not r:
            continue
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            verdict = f"≤ {target:.0f} {'✅' if r['p95'] <= target else '❌'}"
        cpu = r.get("cpu")
        cpu_cells = f"{cpu['p50']:.1f} | {cpu['p95']:.1f}" if cpu else " | "
        lines.append(
            f"| {label} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
            f"{r['max']:.1f} | {cpu_cells} | {verdict} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
