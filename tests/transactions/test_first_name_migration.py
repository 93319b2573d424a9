"""The transactions_02 migration fills customer_first_name_lc for the rows already there."""
from __future__ import annotations

from datetime import datetime, timezone

from flask_migrate import upgrade
from sqlalchemy import text

from portal import create_app
from portal.accounts.models import LinkedAccount, MasterAccount
from portal.extensions import db

ROW = (
    "INSERT INTO transactions (linked_account_id, receipt, sale_receipt, txn_type, is_test,"
    " occurred_at, amount_cents, shipping_cents, tax_cents, currency, customer_first_name,"
    " customer_last_name, customer_last_name_lc, customer_email, recurring, quantity, locale)"
    " VALUES (:a, :r, :r, 'SALE', false, :at, 100, 0, 0, 'USD', :first, 'Doe', 'doe',"
    " 'x@example.com', false, 1, 'en')"
)


def test_existing_rows_get_their_first_name_lower_cased(tmp_path, db_url):
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url})
    with app.app_context():
        if not db_url.startswith("sqlite"):
            db.drop_all()
        upgrade(revision="reports_01")
        now = datetime(2026, 11, 1, tzinfo=timezone.utc)
        master = MasterAccount(created_at=now)
        db.session.add(master)
        db.session.flush()
        account = LinkedAccount(
            master_account_id=master.id, nickname="shop", account_email="a@example.com",
            created_at=now,
        )
        db.session.add(account)
        db.session.flush()
        for receipt, first in (("R1", "Élodie"), ("R2", "MARIA"), ("R3", "")):
            db.session.execute(
                text(ROW), {"a": account.id, "r": receipt, "at": "2026-11-01 10:00:00", "first": first}
            )
        db.session.commit()
        upgrade()
        got = dict(db.session.execute(text(
            "SELECT receipt, customer_first_name_lc FROM transactions ORDER BY receipt")).all())
        assert got == {"R1": "élodie", "R2": "maria", "R3": ""}
        db.session.remove()
        db.engine.dispose()
