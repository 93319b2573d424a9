"""Matrix entries of the Dashboard tab (owner only; DOMAIN.md §2, issue 5 item 8): clerks are
refused, whatever they hold; each owner's figures are those of their own accounts only."""
from tests.authz.matrix import ALL_CLERKS, each, logged_in
from tests.authz.matrix._world import reads_nothing

OWNERS_ONLY = logged_in(200, **each(ALL_CLERKS, 403))  # whatever the clerk holds


def _no_foreign_accounts(w, who, obj, response):
    """Nothing of another Master Account's accounts (the daily tables list accounts with sales)."""
    if response.status_code != 200:
        return None
    theirs = ("matrixa1", "matrixa2") if who == "other_owner" else ("matrixb1",)
    if shown := [n for n in theirs if n in response.get_data(as_text=True)]:
        return f"shows another Master Account's {shown}"
    return None


def _own_accounts_only(w, who, obj, response):
    """The owner of A sees A1 and A2 and never B1; the owner of B the other way round."""
    if response.status_code != 200:
        return None
    page = response.get_data(as_text=True)
    mine, theirs = (("matrixb1",), ("matrixa1", "matrixa2")) if who == "other_owner" else \
        (("matrixa1", "matrixa2"), ("matrixb1",))
    if missing := [n for n in mine if f'data-account="{n}"' not in page]:
        return f"does not show {missing}"
    if shown := [n for n in theirs if n in page]:
        return f"shows another Master Account's {shown}"
    return None


ROUTES = {
    "dashboard.index": {"GET": reads_nothing("/dashboard/", OWNERS_ONLY, check=_own_accounts_only)},
    # The chart's numbers as tables (per day and account with sales).
    "dashboard.daily": {"GET": reads_nothing("/dashboard/daily", OWNERS_ONLY,
                                             check=_no_foreign_accounts)},
}
