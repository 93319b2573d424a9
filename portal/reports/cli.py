"""``flask --app portal reports rebuild``: recompute the report tables from the event log."""
from __future__ import annotations

import time

import click

from portal.extensions import db
from portal.reports import bp


@bp.cli.command("rebuild")
def rebuild_command():
    """Recompute the report tables from the ticket event log and the transactions.

    Needed after events were inserted with the live aggregation paused (large data loads) and
    harmless at any time: it runs in one transaction, readers keep the old numbers meanwhile.
    """
    from portal.reports import aggregate

    started = time.monotonic()
    try:
        counts = aggregate.rebuild(db.session.connection(), progress=lambda step: click.echo(f"  … {step}"))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    click.echo(
        f"Rebuilt the report tables in {time.monotonic() - started:.1f}s: {counts['events']} events "
        f"→ {counts['facts']} facts, {counts['orders']} orders."
    )
