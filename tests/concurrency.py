"""Racing workers in tests: ``run_at_once(app, n, job)`` starts ``n`` threads, each with its own
app context and database session, releases them together and returns what each ``job()``
returned (any exception fails the test)."""
from __future__ import annotations

import threading

from portal.extensions import db


def run_at_once(app, n: int, job) -> list:
    barrier = threading.Barrier(n)
    results: list = []
    errors: list = []

    def worker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(job())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results
