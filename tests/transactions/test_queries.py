"""The search itself: what each filter finds, scoping, keyset pages, the capped count, export."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.authz.scope import principal_for
from portal.transactions import search as queries
from portal.transactions.filters import Filters, day_start, interpret
from tests.transactions.conftest import days_ago

UTC = ZoneInfo("UTC")


@pytest.mark.parametrize(
    "q, field, kind, value, first",
    [
        ("95WJABGG", "auto", "receipt", "95WJABGG", ""),
        ("95wjabgg-2", "auto", "receipt", "95WJABGG-2", ""),
        ("Jane@Example.COM", "auto", "email", "jane@example.com", ""),
        ("jane.do", "auto", "email", "jane.do", ""),
        ("jane smith", "auto", "name", "smith", "jane"),
        ("  Mary   Ann  Smith ", "auto", "name", "smith", "mary ann"),
        ("SMITH", "auto", "receipt_or_name", "smith", ""),
        ("Müller", "auto", "name", "müller", ""),
        ("smith", "name", "name", "smith", ""),
        ("abc", "receipt", "receipt", "ABC", ""),
        ("bob", "email", "email", "bob", ""),
    ],
)
def test_the_search_box_is_read_as_receipt_email_or_name(q, field, kind, value, first):
    m = interpret(q, field)
    assert (m.kind, m.value, m.first) == (kind, value, first)


def test_an_empty_search_box_matches_everything():
    assert interpret("   ") is None


def search(user, cursor=None, **kw):
    filters = Filters(tz=kw.pop("tz", UTC), **kw)
    return queries.search_page(principal_for(user), filters, cursor).rows


def receipts(rows):
    return [r.receipt for r in rows]


def test_receipt_email_and_name_find_the_order_in_any_visible_account(make, world):
    a = make.sale(
        world.keto, at=days_ago(world, 3), receipt="AB12CD34", email="jane.doe@example.com"
    )
    b = make.sale(world.mind, at=days_ago(world, 2), receipt="ZZ99ZZ99", email="other@example.com")
    rebill = make.rebill(a, at=days_ago(world, 1))
    foreign = make.sale(world.other_account, at=days_ago(world, 1), receipt="AB12CD99")
    owner = world.owner
    assert receipts(search(owner, q="ab12cd34")) == [
        rebill.receipt,
        "AB12CD34",
    ]  # the rebill "AB12CD34-1" too
    assert receipts(search(owner, q="AB12")) == [
        rebill.receipt,
        "AB12CD34",
    ]  # never the other tenant's
    assert receipts(search(owner, q="JANE.DOE@example.com")) == [rebill.receipt, "AB12CD34"]
    assert receipts(search(owner, q="jane.d")) == [rebill.receipt, "AB12CD34"]
    assert receipts(search(owner, q="Chris Customer")) == [rebill.receipt, "ZZ99ZZ99", "AB12CD34"]
    assert receipts(search(owner, q="zz99zz99")) == ["ZZ99ZZ99"]
    assert foreign.receipt not in receipts(search(world.other_owner, q="AB12CD34"))
    assert receipts(search(world.other_owner, q="AB12")) == ["AB12CD99"]
    assert b.id


def test_a_word_can_be_a_receipt_or_a_last_name(make, world):
    make.sale(world.keto, at=days_ago(world, 3), receipt="KXQWERTY")
    s2 = make.sale(world.keto, at=days_ago(world, 2))
    s2.customer_last_name, s2.customer_last_name_lc = "Kxqwell", "kxqwell"
    from portal.extensions import db

    db.session.commit()
    assert receipts(search(world.owner, q="kxqw")) == [s2.receipt, "KXQWERTY"]


def test_a_clerk_sees_only_the_accounts_granted(make, world):
    make.sale(world.keto, at=days_ago(world, 3), receipt="KETO0001")
    make.sale(world.mind, at=days_ago(world, 3), receipt="MIND0001")
    limited = make.clerk(
        world.owner, perms=("orders_tickets", "search_orders"), accounts=[world.mind]
    )
    assert receipts(search(limited)) == ["MIND0001"]
    assert receipts(search(limited, account_ids=(world.keto.id,))) == []  # asking does not widen it


def test_without_search_orders_only_transactions_tied_to_a_ticket_are_listed(make, world):
    """The API-style list for an Orders/Tickets-only principal (they cannot use the tab)."""
    tied = make.sale(world.keto, at=days_ago(world, 5), receipt="TIED0001")
    rebill = make.rebill(tied, at=days_ago(world, 2))
    make.sale(world.keto, at=days_ago(world, 4), receipt="LOOSE001")
    make.ticket(tied, now=days_ago(world, 1))
    assert receipts(search(world.tickets_clerk)) == [rebill.receipt, "TIED0001"]
    assert receipts(search(world.search_clerk)) == [rebill.receipt, "LOOSE001", "TIED0001"]


def test_date_range_is_read_in_the_viewers_time_zone(make, world):
    day = (world.now - timedelta(days=10)).date()
    ny = ZoneInfo("America/New_York")
    start = day_start(day, ny)
    make.sale(world.keto, at=start - timedelta(minutes=1), receipt="BEFORE01")
    make.sale(world.keto, at=start + timedelta(minutes=1), receipt="INSIDE01")
    make.sale(world.keto, at=start + timedelta(hours=23, minutes=59), receipt="INSIDE02")
    make.sale(world.keto, at=start + timedelta(hours=24, minutes=1), receipt="AFTER001")
    assert receipts(search(world.owner, date_from=day, date_to=day, tz=ny)) == [
        "INSIDE02",
        "INSIDE01",
    ]
    assert receipts(search(world.owner, date_from=day, tz=ny))[-2:] == ["INSIDE02", "INSIDE01"]


def test_type_product_affiliate_currency_amount_and_test_filters(make, world):
    cheap = make.sale(
        world.keto,
        at=days_ago(world, 9),
        amount_cents=999,
        receipt="CHEAP001",
        affiliate="healthhub",
    )
    dear = make.sale(
        world.keto, at=days_ago(world, 8), amount_cents=9900, receipt="DEAR0001", currency="EUR"
    )
    test_sale = make.sale(
        world.keto, at=days_ago(world, 7), receipt="TEST0001", txn_type="TEST_SALE"
    )
    from portal.extensions import db
    from portal.transactions import services as txn_services

    refund = txn_services.refund_charge(cheap, world.keto, now=days_ago(world, 6))
    db.session.commit()
    owner = world.owner
    assert receipts(search(owner)) == [
        refund.receipt,
        "DEAR0001",
        "CHEAP001",
    ]  # tests hidden by default
    assert receipts(search(owner, include_test=True)) == [
        refund.receipt,
        "TEST0001",
        "DEAR0001",
        "CHEAP001",
    ]
    assert receipts(search(owner, types=("TEST_SALE",))) == [
        "TEST0001"
    ]  # asking for a test type shows it
    assert [(r.receipt, r.txn_type) for r in search(owner, types=("RFND",))] == [
        ("CHEAP001", "RFND")
    ]
    assert receipts(search(owner, types=("SALE", "BILL"))) == ["DEAR0001", "CHEAP001"]
    assert receipts(search(owner, sku=dear.sku)) == ["DEAR0001"]
    assert receipts(search(owner, affiliate="healthhub", types=("SALE",))) == ["CHEAP001"]
    assert receipts(search(owner, currency="EUR")) == ["DEAR0001"]
    assert receipts(search(owner, amount_min=1000)) == ["DEAR0001"]
    assert receipts(search(owner, amount_max=999)) == [refund.receipt, "CHEAP001"]
    assert receipts(search(owner, amount_min=999, amount_max=9900, types=("SALE",))) == [
        "DEAR0001",
        "CHEAP001",
    ]
    assert test_sale.is_test


def test_keyset_pages_cover_everything_once_newest_first_even_with_equal_times(make, world):
    at = days_ago(world, 3)
    made = [
        make.sale(world.keto if i % 2 else world.mind, at=at - timedelta(hours=i // 3))
        for i in range(8)
    ]
    expected = [t.receipt for t in sorted(made, key=lambda t: (t.occurred_at, t.id), reverse=True)]
    principal = principal_for(world.owner)
    seen, cursor = [], None
    for _ in range(5):
        page = queries.search_page(principal, Filters(tz=UTC), cursor, size=3)
        seen += receipts(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "2026_x",
        "20261101T000000.000000_-4",
        "20261101T000000.000000_99999999999999999999999",
        "x" * 100,
    ],
)
def test_a_malformed_cursor_means_the_first_page(make, world, cursor):
    make.sale(world.keto, at=days_ago(world, 1), receipt="ONLY0001")
    assert receipts(search(world.owner, cursor=cursor)) == ["ONLY0001"]


def test_the_count_is_capped(make, world):
    for i in range(5):
        make.sale(world.keto, at=days_ago(world, i + 1))
    principal = principal_for(world.owner)
    assert queries.count(principal, Filters(tz=UTC)) == queries.Count(5, capped=False)
    assert queries.count(principal, Filters(tz=UTC), cap=3) == queries.Count(3, capped=True)
    assert queries.count(principal_for(world.other_owner), Filters(tz=UTC)).value == 0


def test_export_rows_streams_every_match_in_chunks(make, world):
    made = [make.sale(world.keto, at=days_ago(world, i + 1)) for i in range(7)]
    rows = list(queries.export_rows(principal_for(world.owner), Filters(tz=UTC), chunk=2))
    assert [r.receipt for r in rows] == [t.receipt for t in made]  # newest first, no row twice


def test_the_chosen_index_never_changes_the_answer(make, world):
    """Whichever index the SQLite planner picks, the rows equal a plain filter in Python."""
    import random

    rng = random.Random(4)
    rows = []
    for i in range(60):
        t = make.sale(
            world.keto if rng.random() < 0.5 else world.mind,
            at=days_ago(world, rng.uniform(0, 40)),
            affiliate=rng.choice([None, "aff1", "aff2"]),
            receipt=f"R{rng.choice('ABC')}{i:06d}",
        )
        rows.append(t)
    owner = world.owner
    for filters, keep in [
        (dict(q="RA"), lambda t: t.receipt.startswith("RA")),
        (dict(affiliate="aff1"), lambda t: t.affiliate == "aff1"),
        (
            dict(account_ids=(world.keto.id,), types=("SALE",)),
            lambda t: t.linked_account_id == world.keto.id,
        ),
        (
            dict(types=("SALE",), date_from=days_ago(world, 20).date()),
            lambda t: t.occurred_at >= day_start(days_ago(world, 20).date(), UTC),
        ),
        (dict(q="customer", affiliate="aff2"), lambda t: t.affiliate == "aff2"),
    ]:
        want = [
            t.receipt
            for t in sorted(rows, key=lambda t: (t.occurred_at, t.id), reverse=True)
            if keep(t)
        ]
        assert receipts(search(owner, **filters)) == want[:50], filters


def test_the_count_gives_up_when_its_time_budget_runs_out(app, db, make, world):
    """A statement over budget is interrupted (SQLite progress handler, PostgreSQL
    statement_timeout) and the session stays usable."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, OperationalError

    heavy = (
        "SELECT count(*) FROM (SELECT pg_sleep(0.2))"
        if db.session.get_bind().dialect.name == "postgresql"
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) "
        "SELECT count(*) FROM n"
    )
    with pytest.raises((OperationalError, DBAPIError)):
        with queries._time_budget(0.01):
            db.session.execute(text(heavy)).scalar()
    db.session.rollback()
    make.sale(world.keto, at=days_ago(world, 1))
    assert queries.count(principal_for(world.owner), Filters(tz=UTC)).value == 1


def test_count_reports_many_when_interrupted(make, world, monkeypatch):
    from sqlalchemy.exc import OperationalError

    class Interrupted:
        def __init__(self, seconds):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            raise OperationalError("SELECT", {}, Exception("interrupted"))

    monkeypatch.setattr(queries, "_time_budget", Interrupted)
    assert queries.count(principal_for(world.owner), Filters(tz=UTC)) == queries.Count(None)
