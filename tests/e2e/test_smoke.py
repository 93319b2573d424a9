"""The demo owner and a clerk log in through a real browser and see the tabs DOMAIN.md §2 allows."""
from __future__ import annotations


def tab_names(page):
    return [t.strip() for t in page.locator("[data-testid=tabs] .nav-link").all_inner_texts()]


def test_owner_logs_in_and_sees_all_six_tabs(page, log_in, shot):
    log_in("owner@demo.test")
    assert page.url.endswith("/dashboard/")
    assert tab_names(page) == ["Dashboard", "Accounts", "Tickets", "Transactions", "Reports", "Users"]
    shot()


def test_orders_tickets_clerk_sees_only_the_tickets_tab(page, log_in, portal_url, shot):
    log_in("tickets@demo.test")
    assert tab_names(page) == ["Tickets"]  # issue 5: Orders/Tickets alone sees only Tickets
    assert page.url.endswith("/tickets/")
    shot()
    # ...and still searches the orders tied to their tickets, reached from the Tickets tab.
    page.get_by_role("link", name="Orders on tickets").click()
    page.wait_for_url(lambda url: url.endswith("/transactions/"))
    assert page.locator("[data-testid=ticket-tied-only]").is_visible()
    assert page.locator("#tx-rows a.font-monospace").count() > 0
    assert tab_names(page) == ["Tickets"]
    assert page.locator("[data-testid=tabs] .nav-link.active").inner_text().strip() == "Tickets"
    shot("orders-on-tickets")
    page.goto(portal_url + "/dashboard/")
    assert "Not allowed" in page.content()


def test_wrong_password_gets_a_clear_message(page, log_in, shot):
    log_in("owner@demo.test", "not-the-password")
    assert "Wrong email or password" in page.locator("[data-testid=login-error]").inner_text()
    shot()
