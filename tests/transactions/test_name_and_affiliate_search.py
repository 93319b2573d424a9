"""Finding a customer by first name, last name, "First Last" or "Last, First", and affiliates by
the start of their nickname in any case (issue 8)."""

from __future__ import annotations

import html
import re
from zoneinfo import ZoneInfo

import pytest

from portal.authz.scope import principal_for
from portal.extensions import db
from portal.transactions import queries
from portal.transactions import search as finder
from portal.transactions import services as txn_services
from portal.transactions.filters import Filters, interpret
from portal.transactions.models import Transaction
from tests.transactions.conftest import days_ago

UTC = ZoneInfo("UTC")


def customer(make, world, account, first, last, *, days, affiliate=None):
    """A sale to a named customer, written through record() like every transaction."""
    n = len(first + last) * 1000 + days
    txn = Transaction(
        receipt=f"N{n:07d}", sale_receipt=f"N{n:07d}", txn_type="SALE",
        occurred_at=days_ago(world, days), amount_cents=4700, currency="USD",
        customer_first_name=first, customer_last_name=last,
        customer_email=f"{n}@example.com", affiliate=affiliate,
    )
    txn_services.record(txn, account)
    db.session.commit()
    return txn


def names(user, **kw):
    rows = finder.search_page(principal_for(user), Filters(tz=UTC, **kw)).rows
    return [r.customer_name for r in rows]


@pytest.fixture
def people(make, world):
    return [
        customer(make, world, world.keto, "Maria", "Garcia", days=5),
        customer(make, world, world.mind, "Mariana", "Lopez", days=4),
        customer(make, world, world.keto, "John", "Maribel", days=3),
        customer(make, world, world.keto, "Élodie", "Durand", days=2),
        customer(make, world, world.keto, "Ana", "de la Cruz", days=1),
        customer(make, world, world.other_account, "Maria", "Foreign", days=1),
    ]


@pytest.mark.parametrize(
    "q, field, kind, value, first",
    [
        ("Maria", "auto", "receipt_or_name", "maria", ""),
        ("María", "auto", "name", "maría", ""),
        ("Garcia, Maria", "auto", "name", "garcia", "maria"),
        ("garcia,maria", "auto", "name", "garcia", "maria"),
        ("de la Cruz, Ana", "auto", "name", "de la cruz", "ana"),
        ("Garcia,", "auto", "name", "garcia", ""),
        (", Maria", "auto", "receipt_or_name", "maria", ""),
        ("Maria", "name", "name", "maria", ""),
        ("Garcia, Maria", "name", "name", "garcia", "maria"),
    ],
)
def test_the_search_box_reads_first_names_and_last_comma_first(q, field, kind, value, first):
    m = interpret(q, field)
    assert (m.kind, m.value, m.first) == (kind, value, first)


def test_record_keeps_the_lower_cased_first_name(make, world):
    txn = customer(make, world, world.keto, "Élodie", "Durand", days=1)
    assert txn.customer_first_name_lc == "élodie"
    assert txn.customer_last_name_lc == "durand"


def test_a_first_name_alone_finds_the_customer(people, world):
    assert names(world.owner, q="Maria") == ["Mariana Lopez", "Maria Garcia"]
    assert names(world.owner, q="maria", field="name") == ["Mariana Lopez", "Maria Garcia"]
    # "mari" starts a first name and a last name: both kinds of customer
    assert names(world.owner, q="mari") == ["John Maribel", "Mariana Lopez", "Maria Garcia"]
    # letters outside ASCII fold too, whichever way the user types them
    assert names(world.owner, q="ÉLODIE") == ["Élodie Durand"]
    assert names(world.owner, q="élo") == ["Élodie Durand"]
    # never another tenant's Maria
    assert "Maria Foreign" not in names(world.owner, q="maria")
    assert names(world.other_owner, q="maria") == ["Maria Foreign"]


def test_last_name_first_last_and_last_comma_first(people, world):
    assert names(world.owner, q="Garcia") == ["Maria Garcia"]
    assert names(world.owner, q="Maria Garcia") == ["Maria Garcia"]
    assert names(world.owner, q="Garcia, Maria") == ["Maria Garcia"]
    assert names(world.owner, q="lopez, mar") == ["Mariana Lopez"]
    assert names(world.owner, q="Mar Lopez") == ["Mariana Lopez"]
    assert names(world.owner, q="Garcia, Mariana") == []  # both parts must match
    assert names(world.owner, q="de la Cruz, Ana") == ["Ana de la Cruz"]


def test_the_count_agrees_with_the_rows(people, world):
    principal = principal_for(world.owner)
    assert finder.count(principal, Filters(q="Maria", tz=UTC)).value == 2
    assert finder.count(principal, Filters(q="Garcia, Maria", tz=UTC)).value == 1


def test_a_first_name_search_from_the_page(client, login, people, world):
    login(world.owner)
    page = client.get("/transactions/?q=Mariana", headers={"HX-Request": "true"}).get_data(True)
    assert "Lopez" in page and "Garcia" not in page
    assert "receipts or customer names starting with mariana" in page


# ---------------------------------------------------------------------------------------------
# Affiliates


@pytest.fixture
def affiliates(make, world):
    make.sale(world.keto, at=days_ago(world, 6), receipt="AFFJOHN1", affiliate="johnny22")
    make.sale(world.mind, at=days_ago(world, 5), receipt="AFFJOAN1", affiliate="JoAnna")
    make.sale(world.keto, at=days_ago(world, 4), receipt="AFFBOB01", affiliate="bobsdeals")
    make.sale(world.keto, at=days_ago(world, 3), receipt="AFFNONE1")
    make.sale(world.other_account, at=days_ago(world, 3), receipt="AFFJOX01", affiliate="joker")


def receipts(user, **kw):
    rows = finder.search_page(principal_for(user), Filters(tz=UTC, **kw)).rows
    return [r.receipt for r in rows]


@pytest.mark.parametrize(
    "typed, found",
    [
        ("jo", ["AFFJOAN1", "AFFJOHN1"]),
        ("joh", ["AFFJOHN1"]),
        ("johnny22", ["AFFJOHN1"]),
        ("joanna", ["AFFJOAN1"]),
        ("b", ["AFFBOB01"]),
        ("x", []),
        ("j_", []),  # wildcards are plain characters
        ("%", []),
        ('"jo"', []),  # in quotes: that nickname only
        ('"joanna"', ["AFFJOAN1"]),
        ('"johnny2"', []),
        ('"johnny22"', ["AFFJOHN1"]),
    ],
)
def test_the_affiliate_filter_matches_the_start_of_a_nickname_in_any_case(
    affiliates, world, typed, found
):
    assert receipts(world.owner, affiliate=typed) == found


def test_the_affiliate_filter_with_other_filters_and_the_count(affiliates, world):
    assert receipts(world.owner, affiliate="jo", account_ids=(world.keto.id,)) == ["AFFJOHN1"]
    principal = principal_for(world.owner)
    assert finder.count(principal, Filters(affiliate="jo", tz=UTC)).value == 2


def test_the_affiliate_box_upper_case_is_read_as_lower_case(client, login, affiliates, world):
    login(world.owner)
    page = client.get("/transactions/?affiliate=JOH", headers={"HX-Request": "true"}).get_data(True)
    assert "AFFJOHN1" in page and "AFFJOAN1" not in page


def test_the_affiliate_box_suggests_the_accounts_affiliates(client, login, affiliates, world):
    assert queries.affiliates_for([world.keto.id, world.mind.id]) == [
        "JoAnna",
        "bobsdeals",
        "johnny22",
    ]
    assert queries.affiliates_for([world.mind.id]) == ["JoAnna"]
    assert queries.affiliates_for([world.keto.id], limit=1) == ["bobsdeals"]
    login(world.owner)
    page = client.get("/transactions/").get_data(True)
    assert 'list="affiliate-options"' in page
    assert '<option value="johnny22">' in page and '<option value="JoAnna">' in page
    assert "joker" not in page  # another tenant's affiliate
    # one account's page suggests that account's affiliates only
    page = client.get("/transactions/?account=%d" % world.mind.id).get_data(True)
    assert '<option value="JoAnna">' in page and "johnny22" not in page


def test_their_sales_on_a_transaction_lists_that_affiliate_only(client, login, make, world):
    """An affiliate "john" and another "john1": the transaction page's "their sales" link is
    for john alone (the filter box itself matches the start of a nickname)."""
    sale = make.sale(world.keto, at=days_ago(world, 6), receipt="AFFJOHN0", affiliate="john")
    make.sale(world.keto, at=days_ago(world, 5), receipt="AFFJOHN9", affiliate="john1")
    login(world.owner)
    page = client.get(f"/transactions/{sale.id}").get_data(True)
    link = re.search(r'href="([^"]*affiliate=[^"]*)">their sales', page).group(1)
    results = client.get(html.unescape(link), headers={"HX-Request": "true"}).get_data(True)
    assert "AFFJOHN0" in results and "AFFJOHN9" not in results
    both = client.get("/transactions/?affiliate=john", headers={"HX-Request": "true"}).get_data(True)
    assert "AFFJOHN0" in both and "AFFJOHN9" in both
