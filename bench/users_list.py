"""Users tab speed on the L data set (201 users, 50 accounts): the list page (query + render),
its filters, and the API-key lookup (SECURITY.md S26: "lookup adds < 2 ms").

    .venv/bin/python bench/users_list.py [/work/bench-data/L.db]

Reads the data set without writing (the database is opened read-only); the key lookup with a
hit runs on a small in-memory database with 200 keys.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timezone

os.environ.setdefault("PORTAL_ENV", "testing")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.factories

from flask import g  # noqa: E402
from sqlalchemy import select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.auth.models import User  # noqa: E402
from portal.authz.permissions import Perm  # noqa: E402
from portal.authz.scope import principal_for  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.users import apikeys, services, views  # noqa: E402

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)


def timed(fn, n=30):
    fn()  # warm up
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main(path: str) -> None:
    app = create_app({"ENV": "testing", "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{path}?mode=ro&uri=true"})
    results = []
    with app.test_request_context("/users/"):
        owner = db.session.scalar(select(User).where(User.role == "owner"))
        g._login_user = owner
        principal = principal_for(owner)
        count = len(services.list_users(principal))
        results.append((f"list_users, all {count} users", timed(lambda: services.list_users(principal))))
        results.append(("list_users, text filter 'an'",
                        timed(lambda: services.list_users(principal, q="an"))))
        results.append(("list_users, permission filter",
                        timed(lambda: services.list_users(principal, perm=Perm.MANAGE_USERS))))
        results.append((f"whole Users page (query + render, {count} rows)", timed(views.index)))
        results.append(("apikeys.authenticate, unknown key (1.2M-transaction DB)",
                        timed(lambda: apikeys.authenticate("mak_" + "x" * 43, now=NOW), n=200)))

    small = create_app({"ENV": "testing", "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with small.app_context():
        from tests.factories import Factory

        db.create_all()
        make = Factory()
        owner = make.owner()
        keys = []
        for i in range(200):
            clerk = make.clerk(owner, perms=("api_read",), api_only=True, email=f"k{i}@bench.test")
            keys.append(apikeys.issue(clerk, now=NOW))
        db.session.commit()
        key = keys[137]
        results.append(("apikeys.authenticate, valid key (200 keys)",
                        timed(lambda: apikeys.authenticate(key, now=NOW), n=200)))

    width = max(len(name) for name, _ in results)
    for name, (median, p95) in results:
        print(f"{name:<{width}}  median {median:7.2f} ms   p95 {p95:7.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/bench-data/L.db")
