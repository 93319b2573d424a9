"""``flask --app portal …`` commands: demo data, logins, the timers sweep, sandbox billing, mail
delivery."""
from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from portal.extensions import db
from portal.types import utcnow

LOGINS_FILE = "demo-logins.txt"


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-11-20T12:00:00Z")
    return moment


def init_app(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--size", type=click.Choice(["demo", "M", "L"]), default="demo", show_default=True)
    @click.option("--seed", type=int, default=None, help="Random seed (default: the DEMO_SEED setting).")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
    @click.option("--now", default=None, help="Pretend it is this UTC time (ISO 8601).")
    def demo(size, seed, if_empty, now):
        """Load demo data (or a benchmark data set) into an empty database."""
        from portal.demo import generator

        if _demo_owner_exists():
            # Run twice (or by every `make run`): the demo data is there, which is what was asked.
            click.echo("Demo data already loaded; nothing to do. (`flask --app portal demo-logins` "
                       "prints the logins; to load it afresh, empty the database first: make reset-db.)")
            return
        if generator.is_loaded():
            if if_empty:
                click.echo("The database already has users; demo data not loaded.")
                return
            raise click.ClickException("The database holds other data than the demo; demo data "
                                       "loads only into an empty database.")
        started = time.monotonic()
        summary = generator.generate(
            size, seed=seed or current_app.config["DEMO_SEED"], now=_parse_now(now),
            progress=lambda step: click.echo(f"  … {step}"),
        )
        if size == "demo":
            keys = _issue_demo_keys()
            _write_logins(keys)
        click.echo(
            f"Loaded {size} data in {time.monotonic() - started:.1f}s: {summary['accounts']} accounts, "
            f"{summary['transactions']} transactions, {summary['tickets']} tickets, "
            f"{summary['events']} ticket events."
        )

    @app.cli.command("demo-logins")
    def demo_logins():
        """Print the demo logins and the API users' keys."""
        path = Path(current_app.instance_path) / LOGINS_FILE
        if not path.exists():
            click.echo("No demo logins: load the demo data with `flask --app portal demo`.")
            return
        click.echo(_with_base_url(path.read_text(), current_app.config["BASE_URL"]))

    @app.cli.command("sweep")
    @click.option("--now", default=None, help="Pretend it is this UTC time (ISO 8601).")
    def sweep(now):
        """Run the ticket timers once (the worker does this every minute)."""
        from portal.tickets import sweep as sweep_module

        counts = sweep_module.run(_parse_now(now) or utcnow())
        click.echo(f"Timers sweep: {counts or 'nothing due'}")

    @app.cli.command("bill")
    @click.option("--now", default=None, help="Pretend it is this UTC time (ISO 8601).")
    def bill(now):
        """Charge the subscription rebills due on sandbox accounts (the worker does it every minute)."""
        from portal.transactions import billing

        counts = billing.bill_due(_parse_now(now) or utcnow())
        click.echo(f"Billing: {counts or 'nothing due'}")

    @app.cli.command("deliver-mail")
    def deliver_mail():
        """Deliver due outbox messages once (the worker does this continuously)."""
        from portal.notifications import outbox

        click.echo(outbox.deliver_due(utcnow(), limit=1000))


def _demo_owner_exists() -> bool:
    from portal.auth.models import User
    from portal.demo.generator import OWNER_EMAIL

    return db.session.scalar(select(User.id).where(User.email == OWNER_EMAIL)) is not None


_OPEN_BASE = re.compile(r"\(open (\S+)\)")


def _with_base_url(text: str, base: str) -> str:
    """The logins file names the address the portal had when the demo was loaded; print it with
    today's (``PORT=8080 make run`` after a first run on 5000 links to :8080)."""
    first_line = text.split("\n", 1)[0]
    recorded = _OPEN_BASE.search(first_line)
    if recorded is None or recorded.group(1) == base:
        return text
    return text.replace(recorded.group(1), base)


def _issue_demo_keys() -> dict[str, str]:
    from portal.auth.models import User
    from portal.users import apikeys

    keys = {}
    now = utcnow()
    for email in ("api@demo.test", "apiread@demo.test"):
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            keys[email] = apikeys.issue(user, now=now)
    db.session.commit()
    return keys


def _sample_order():
    """A recent subscription sale with no ticket, to try the customer's order page with."""
    from datetime import timedelta

    from portal.tickets.models import Ticket
    from portal.transactions.models import Transaction

    has_ticket = select(Ticket.id).where(Ticket.transaction_id == Transaction.id).exists()
    return db.session.scalar(
        select(Transaction)
        .where(
            Transaction.txn_type == "SALE",
            Transaction.recurring.is_(True),
            Transaction.occurred_at >= utcnow() - timedelta(days=20),
            ~has_ticket,
        )
        .order_by(Transaction.id)
        .limit(1)
    )


def _write_logins(keys: dict[str, str]) -> None:
    from portal.demo.generator import DEMO_PASSWORD, DEMO_PIN

    base = current_app.config["BASE_URL"]
    lines = [
        f"Master Account Portal — demo logins (open {base})",
        "",
        f"  Every password: {DEMO_PASSWORD}",
        "",
        f"  owner@demo.test        Owner: all six tabs, every account (PIN {DEMO_PIN})",
        "  tickets@demo.test      Clerk, Orders/Tickets on ketovital and mindshift",
        "  search@demo.test       Clerk, Orders/Tickets + Search Orders, all accounts",
        "  supervisor@demo.test   Clerk, Orders/Tickets + Search Orders + Manage Users (Reports, Users)",
        "  refunds@demo.test      Clerk with Refund authority (processes refund escalations)",
        "",
        "  API-only users (no web login; send the key in the X-API-Key header):",
    ]
    for email, key in keys.items():
        lines.append(f"  {email:<22} {key}")
    sample = _sample_order()
    if sample is not None:
        lines += [
            "",
            "  Customer order page (no login): "
            f"{base}/support — receipt {sample.receipt}, email {sample.customer_email}",
        ]
    lines.append("")
    lines.append(f"  Mail sent by the portal: {base}/dev/mail")
    path = Path(current_app.instance_path) / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
