"""The Reports tab over HTTP: who may see it, scoping, full page vs htmx fragment, the URL that
reproduces a report, CSV downloads, drill-downs, bad input."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event

from portal.extensions import db
from portal.reports.catalog import REPORTS
from tests.conftest import HX, HX_BOOSTED

Q = "period=custom&from=2026-11-10&to=2026-11-12&tz=America/New_York"


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def csv_rows(response):
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


# ---------------------------------------------------------------------------------------------
# Access


@pytest.mark.parametrize("slug", [r.slug for r in REPORTS])
def test_the_owner_opens_every_report(client, login, world, slug):
    login(world.owner)
    response = client.get(f"/reports/{slug}?{Q}")
    assert response.status_code == 200
    page = soup(response)
    assert page.select_one("#report-body") and page.select_one("[data-testid=csv-download]")
    assert client.get(f"/reports/{slug}/export.csv?{Q}").status_code == 200


def test_a_supervisor_opens_the_reports_but_not_the_affiliate_figures(client, login, world):
    login(world.supervisor)  # Manage Users, no Search Orders
    index = soup(client.get("/reports/"))
    cards = [a["data-testid"] for a in index.select("[data-testid^=report-card-]")]
    assert "report-card-closed" in cards and "report-card-affiliates" not in cards
    assert client.get(f"/reports/closed?{Q}").status_code == 200
    assert client.get(f"/reports/affiliates?{Q}").status_code == 403
    assert client.get(f"/reports/affiliates/export.csv?{Q}").status_code == 403


@pytest.mark.parametrize("path", ["/reports/", f"/reports/closed?{Q}", f"/reports/closed/export.csv?{Q}",
                                  f"/reports/closed/tickets?{Q}&col=total"])
def test_a_plain_clerk_is_refused(client, login, world, path):
    login(world.plain)  # Orders/Tickets only
    assert client.get(path).status_code == 403
    assert client.get(path, headers=HX).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    response = client.get(f"/reports/closed?{Q}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_another_master_account_sees_none_of_our_activity(client, login, world, make):
    stranger = make.owner()
    make.account(stranger, "strangeshop")
    login(stranger)
    page = soup(client.get(f"/reports/closed?{Q}"))
    assert "Alice" not in page.get_text() and "No" in page.select_one("[data-testid=table-clerks]").get_text()
    assert client.get(f"/reports/closed/tickets?{Q}&col=total&acct={world.k.id}").status_code == 404
    assert client.get(f"/reports/closed?{Q}&account={world.k.id}").status_code == 200  # not a choice:
    assert "Not a valid choice" in client.get(f"/reports/closed?{Q}&account={world.k.id}").get_data(as_text=True)


def test_the_supervisor_sees_only_their_accounts_numbers(client, login, world):
    login(world.supervisor)
    rows = csv_rows(client.get(f"/reports/closed/export.csv?{Q}"))
    assert rows[-1] == ["Total closings", "1", "1", "0", "2"]  # mindshift's finalized ticket is not theirs
    options = [o.get_text() for o in soup(client.get(f"/reports/creation?{Q}")).select("#account option")]
    assert options == ["All accounts", "ketovital"]
    assert client.get(f"/reports/closed/tickets?{Q}&col=total&acct={world.m.id}").status_code == 404


# ---------------------------------------------------------------------------------------------
# Page, fragment, URL


def test_htmx_gets_the_report_block_and_the_page_gets_everything(client, login, world):
    login(world.owner)
    full = client.get(f"/reports/creation?{Q}").get_data(as_text=True)
    fragment = client.get(f"/reports/creation?{Q}", headers=HX)
    boosted = client.get(f"/reports/creation?{Q}", headers=HX_BOOSTED).get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" in full and "<html" in boosted and "<html" not in body
    assert body.lstrip().startswith('<div id="report-body"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert fragment.headers["HX-Push-Url"] == (
        "/reports/creation?period=custom&tz=America/New_York&from=2026-11-10&to=2026-11-12")
    data = json.loads(BeautifulSoup(body, "html.parser").select_one("#report-chart")["data-chart"])
    assert data["labels"] == ["10 Nov", "11 Nov", "12 Nov"]


def test_the_filter_form_pushes_a_url_that_reproduces_the_report(client, login, world):
    login(world.owner)
    page = soup(client.get(f"/reports/closed?period=7d&tz=Europe/Berlin&account={world.k.id}&clerk=system"))
    form = page.select_one("[data-testid=report-filters]")
    assert form["hx-push-url"] == "true" and form["method"] == "get"
    link = page.select_one("[data-testid=permalink]")["href"]
    for part in ("period=7d", "tz=Europe/Berlin", f"account={world.k.id}", "clerk=system"):
        assert part in link
    assert "from=" not in link  # a preset follows today; custom dates are pinned
    assert page.select_one("#period option[selected]")["value"] == "7d"
    assert page.select_one("#tz option[selected]")["value"] == "Europe/Berlin"
    custom = soup(client.get(f"/reports/closed?{Q}")).select_one("[data-testid=permalink]")["href"]
    assert "from=2026-11-10" in custom and "to=2026-11-12" in custom


def test_the_viewers_zone_is_the_default(client, login, world):
    login(world.owner)  # New York
    page = soup(client.get("/reports/creation"))
    assert page.select_one("#tz option[selected]")["value"] == "America/New_York"
    assert page.select_one("#period option[selected]")["value"] == "30d"


@pytest.mark.parametrize("query, message", [
    ("period=custom&from=2026-11-12&to=2026-11-10", "ends before it starts"),
    ("period=custom&from=2024-01-01&to=2026-01-01", "at most 366 days"),
    ("period=custom&from=nonsense&to=2026-11-10", "Not a valid date"),
    ("period=custom", "Give both dates"),
    ("period=forever", "Not a valid choice"),
    ("period=7d&tz=Mars/Olympus", "time zone"),
    ("period=7d&clerk=u999999", "Not a valid choice"),
    ("period=7d&page=0", "Number must be"),
    ("period=custom&from=1900-01-01&to=1900-01-02", "between 2000"),
])
def test_bad_filters_are_explained_with_status_200(client, login, world, query, message):
    login(world.owner)
    for headers in ({}, HX):
        response = client.get(f"/reports/closed?{query}", headers=headers)
        assert response.status_code == 200
        errors = soup(response).select_one("[data-testid=filter-errors]")
        assert errors is not None and message in errors.get_text()
    assert client.get(f"/reports/closed/export.csv?{query}").status_code == 400


def test_the_index_says_when_the_report_tables_need_a_rebuild(client, login, world):
    from portal.reports.models import ReportFact

    login(world.owner)
    assert not soup(client.get("/reports/")).select("[data-testid=needs-rebuild]")
    db.session.execute(ReportFact.__table__.delete())
    db.session.commit()
    assert soup(client.get("/reports/")).select("[data-testid=needs-rebuild]")


def test_unknown_reports_are_404(client, login, world):
    login(world.owner)
    assert client.get("/reports/nope").status_code == 404
    assert client.get("/reports/nope/export.csv").status_code == 404


# ---------------------------------------------------------------------------------------------
# CSV


def test_the_csv_holds_exactly_the_table_shown(client, login, world):
    login(world.owner)
    page = soup(client.get(f"/reports/creation?{Q}"))
    shown = [[c.get_text(" ", strip=True) for c in tr.select("th, td")]
             for tr in page.select("[data-testid=table-days] tr")]
    response = client.get(f"/reports/creation/export.csv?{Q}")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="creation_2026-11-10_2026-11-12.csv"'
    rows = csv_rows(response)
    assert [r[0] for r in rows] == [s[0] for s in shown]
    assert rows[0] == ["Date", "Tech support", "Refund", "Cancellation", "Total"]
    assert rows[1] == ["Tue 10 Nov 2026", "2", "1", "1", "4"] == [s.replace("●", "").strip() for s in shown[1]]
    accounts = csv_rows(client.get(f"/reports/creation/export.csv?{Q}&table=accounts"))
    assert accounts[0][0] == "Account" and accounts[-1] == ["Total", "2", "1", "1", "4"]
    assert client.get(f"/reports/creation/export.csv?{Q}&table=nope").status_code == 404


def test_csv_cells_cannot_run_formulas(client, login, world):
    world.alice.first_name = "=cmd|' /C calc'!A0"
    db.session.commit()
    login(world.owner)
    text = client.get(f"/reports/comments/export.csv?{Q}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["Time", "Time zone", "Clerk", "Account", "Ticket", "Type", "Action", "Comment"]
    assert len(rows) == 10
    assert rows[1][7] == "'=HYPERLINK(\"http://evil.test\")"
    assert rows[1][:4] == ["2026-11-11 22:00:00", "America/New_York", "Bob Brown (deleted)", "ketovital"]
    assert any(r[2].startswith("'=cmd") for r in rows)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@"))
    clerks = csv_rows(client.get(f"/reports/closed/export.csv?{Q}"))
    assert any(r[0].startswith("'=cmd") for r in clerks)


def test_a_year_of_comments_streams(client, login, world):
    login(world.owner)
    response = client.get("/reports/comments/export.csv?period=custom&from=2026-01-01&to=2026-12-31&tz=UTC")
    assert response.is_streamed
    assert len(csv_rows(response)) == 1 + 10  # every vendor-side comment of the year


def test_clerk_tickets_by_type_total_is_distinct_tickets_on_page_csv_and_drill(client, login, world):
    """T3 was worked on by Ann and Alice: in both rows, once in the total, and the total's
    drill-down lists each ticket once (under the first clerk who acted on it in the period)."""
    login(world.owner)
    page = soup(client.get(f"/reports/clerk-types?{Q}"))
    foot = page.select_one("[data-testid=table-clerks] tfoot tr")
    shown = [c.get_text(" ", strip=True) for c in foot.select("th, td")]
    assert shown == ["All clerks (distinct tickets)", "2", "1", "1", "4"]
    assert "once in the total" in page.select_one("[data-testid=table-caption]").get_text()
    stats = page.get_text(" ", strip=True)
    assert "Tickets worked on 4" in stats and "Clerk–ticket pairs 5" in stats
    rows = csv_rows(client.get(f"/reports/clerk-types/export.csv?{Q}"))
    assert rows[-1] == shown  # the CSV is what is shown
    href = foot.select("a.drill")[-1]["href"]
    assert "col=total" in href and "actor" not in href
    drill = soup(client.get(href))
    assert drill.select_one("[data-testid=drill-total]").get_text() == "4"
    links = [a["href"] for a in drill.select("[data-testid=drill-table] a[href^='/tickets/']")]
    assert sorted(links) == sorted(f"/tickets/{world.tickets[n].id}" for n in (1, 2, 3, 4))
    assert "each ticket once" in drill.select_one("[data-testid=drill-title]").get_text()
    cancel = soup(client.get(foot.select("a.drill")[2]["href"]))  # the cancellation total: T3 once
    assert cancel.select_one("[data-testid=drill-total]").get_text() == "1"
    assert "Ann Api" in cancel.select_one("[data-testid=drill-table]").get_text()  # she was first on it


@pytest.mark.parametrize("slug, label, stat", [
    ("closed", "Total closings", "Closings 3"),
    ("opened", "Total tickets opened", "Tickets opened 4"),
    ("clerk-modifications", "Total changes", "Changes 4"),
])
def test_other_clerk_reports_say_what_their_total_counts(client, login, world, slug, label, stat):
    login(world.owner)
    page = soup(client.get(f"/reports/{slug}?{Q}"))
    assert page.select_one("[data-testid=table-clerks] tfoot th").get_text(strip=True) == label
    assert stat in page.get_text(" ", strip=True)
    assert page.select_one("[data-testid=table-caption]").get_text(strip=True)
    assert csv_rows(client.get(f"/reports/{slug}/export.csv?{Q}"))[-1][0] == label


def test_comment_counts_link_to_that_clerks_comments(client, login, world):
    login(world.owner)
    page = soup(client.get(f"/reports/comments?{Q}&account={world.k.id}"))
    links = {a.find_parent("tr").th.get_text(" ", strip=True): a for a in
             page.select("[data-testid=table-clerks] a.drill")}
    assert {k: a.get_text() for k, a in links.items()} == {
        "Alice Baker": "5", "Bob Brown (deleted)": "2", "Total": "7"}  # ketovital only
    href = links["Alice Baker"]["href"]
    assert f"clerk=u{world.alice.id}" in href and f"account={world.k.id}" in href
    assert "period=custom" in href and "from=2026-11-10" in href and "tz=America/New_York" in href
    one = soup(client.get(href))
    items = one.select("[data-testid=comments] li")
    assert len(items) == 5 and all("Alice Baker" in li.get_text() for li in items)
    assert one.select_one("#clerk option[selected]")["value"] == f"u{world.alice.id}"
    # ...and from there the total goes back to everyone's comments (period and account kept)
    back = one.select_one("[data-testid=table-clerks] tfoot a.drill")["href"]
    assert f"clerk=u{world.alice.id}" not in back and f"account={world.k.id}" in back
    assert len(soup(client.get(back)).select("[data-testid=comments] li")) == 7
    fragment = client.get(href, headers=HX)
    assert fragment.status_code == 200 and f"clerk=u{world.alice.id}" in fragment.headers["HX-Push-Url"]
    # Rows can also be the vendor's email links or API calls made without a user: their links
    # must be choices of the clerk filter too.
    choices = [o["value"] for o in one.select("#clerk option")]
    assert {"vendor_link", "api"} <= set(choices)
    assert "Not a valid choice" not in client.get(f"/reports/comments?{Q}&clerk=api").get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# Drill-down


def test_numbers_link_to_the_tickets_behind_them(client, login, world):
    login(world.owner)
    page = soup(client.get(f"/reports/creation?{Q}"))
    cell = page.select_one("[data-testid=table-days] tbody tr td a.drill")
    href = cell["href"]
    assert "day=2026-11-10" in href and "col=tech_support" in href and "tz=America/New_York" in href
    drill = soup(client.get(href))
    assert drill.select_one("[data-testid=drill-total]").get_text() == "2"
    links = [a["href"] for a in drill.select("[data-testid=drill-table] a")]
    assert links == [f"/tickets/{world.tickets[6].id}", f"/tickets/{world.tickets[2].id}"]  # newest first
    assert "Tue 10 Nov 2026" in drill.select_one("[data-testid=drill-title]").get_text()


@pytest.mark.parametrize("slug, args, expected", [
    ("closed", "col=total", 3),
    ("closed", "col=refund&actor=u{bob}", 1),
    ("clerk-types", "col=total&actor=u{alice}", 3),
    ("clerk-types", "col=tech_support&day=2026-11-10", 2),
    ("clerk-types", "col=total", 4),  # distinct tickets: T3 (Ann and Alice) once
    ("clerk-types", "col=cancel", 1),
    ("clerk-types", "col=total&acct={m}", 1),
    ("clerk-modifications", "col=other", 1),
    ("modifications", "col=total&acct={k}", 3),
    ("response-times", "col=first_reply", 2),
    ("response-times", "col=saved", 2),
    ("response-times", "col=reply:lt1h", 1),
    ("affiliates", "col=orders", 0),
])
def test_drill_down_counts_match_the_cells(client, login, world, slug, args, expected):
    login(world.owner)
    args = args.format(bob=world.bob.id, alice=world.alice.id, k=world.k.id, m=world.m.id)
    response = client.get(f"/reports/{slug}/tickets?{Q}&{args}")
    assert response.status_code == 200
    assert soup(response).select_one("[data-testid=drill-total]").get_text() == str(expected)


@pytest.mark.parametrize("args", ["col=bogus", "col=total&day=2026-12-25", "col=total&day=tomorrow",
                                  "col=total&acct=999999", "col=total&acct=99999999999999999999",
                                  "col=total&actor=u1234567890123456789"])
def test_drill_down_refuses_cells_that_do_not_exist(client, login, world, args):
    login(world.owner)
    assert client.get(f"/reports/closed/tickets?{Q}&{args}").status_code == 404


def test_drill_down_with_bad_filters_is_a_bad_request(client, login, world):
    login(world.owner)
    assert client.get(f"/reports/closed/tickets?{Q}&col=total&page=abc").status_code == 400
    assert client.get("/reports/closed/tickets?period=custom&col=total").status_code == 400


def test_a_plain_drill_page_is_paged(client, login, world, monkeypatch):
    from portal.reports import views

    monkeypatch.setattr(views, "DRILL_PER_PAGE", 2)
    login(world.owner)
    first = soup(client.get(f"/reports/closed/tickets?{Q}&col=total"))
    second = soup(client.get(f"/reports/closed/tickets?{Q}&col=total&page=2"))
    assert len(first.select("[data-testid=drill-table] tbody tr")) == 2
    assert len(second.select("[data-testid=drill-table] tbody tr")) == 1
    older = [a for a in first.select(".pagination a") if a.get_text() == "Older"][0]["href"]
    assert "page=2" in older and "col=total" in older


# ---------------------------------------------------------------------------------------------
# Safety


def test_reading_reports_writes_nothing(app, client, login, world):
    login(world.owner)
    writes = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if re.match(r"\s*(INSERT|UPDATE|DELETE)", statement, re.I) and "user_sessions" not in statement:
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        for r in REPORTS:
            client.get(f"/reports/{r.slug}?{Q}")
            client.get(f"/reports/{r.slug}/export.csv?{Q}")
        client.get(f"/reports/closed/tickets?{Q}&col=total")
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    assert writes == []


def test_names_and_comments_are_escaped(client, login, world):
    world.alice.first_name = '<img src=x onerror="alert(1)">'
    db.session.commit()
    login(world.owner)
    for slug in ("closed", "comments"):
        page = soup(client.get(f"/reports/{slug}?{Q}"))
        assert page.select("img") == []
        assert '<img src=x onerror="alert(1)">' in page.get_text()


def test_the_distinct_tickets_drill_down_is_paged_newest_first(client, login, world, monkeypatch):
    """Tickets first worked on in the period and a ticket carried over its start (T4, worked on
    Nov 5) interleave by time across pages."""
    from portal.reports import views

    monkeypatch.setattr(views, "DRILL_PER_PAGE", 2)
    login(world.owner)
    pages = []
    for n in (1, 2, 3):
        page = soup(client.get(f"/reports/clerk-types/tickets?{Q}&col=total&page={n}"))
        assert page.select_one("[data-testid=drill-total]").get_text() == "4"
        pages.append([a["href"] for a in page.select("[data-testid=drill-table] a[href^='/tickets/']")])
    t = {n: f"/tickets/{world.tickets[n].id}" for n in (1, 2, 3, 4)}
    assert pages == [[t[3], t[4]], [t[2], t[1]], []]
