"""Matrix entries of the Accounts tab (owner only). ``accounts.show`` is still a stub that
answers 404 to the owners: the accounts feature replaces these statuses with its own."""
from tests.authz.matrix import CLERKS, Case, each, logged_in, objs

ROUTES = {
    "accounts.index": {"GET": Case("/accounts/", logged_in(200, **each(CLERKS, 403)))},
    "accounts.show": {"GET": Case(
        lambda w, o: f"/accounts/{w.id('account', o)}/",
        logged_in(objs(404, 404, 404), **each(CLERKS, 403)),
    )},
}
