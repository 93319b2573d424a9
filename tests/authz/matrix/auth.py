"""Matrix entries of the auth package (login, logout, security settings)."""
from tests.authz.matrix import GUESTS, LOGIN, Case, each, logged_in

ROUTES = {
    "auth.login": {
        # A logged-in user is sent on to the portal; a dead session (disabled, API-only) is
        # nobody, so they see the login form.
        "GET": Case("/auth/login", logged_in(303, **each(GUESTS, 200))),
        # An empty form is answered with the form and a message, whoever sends it.
        "POST": Case("/auth/login", logged_in(200, **each(GUESTS, 200)), data={}),
    },
    "auth.logout": {"POST": Case("/auth/logout", logged_in(303, **each(GUESTS, LOGIN)),
                                 fresh_session=True)},
    "auth.security": {"GET": Case("/auth/security", logged_in(200))},
}
