"""Matrix entries of the foundation's own routes: home, health check, static files."""
from tests.authz.matrix import Case, logged_in, public

ROUTES = {
    # Logged-in people are sent to their first tab (or to Security settings without one).
    "web.home": {"GET": Case("/", logged_in(302))},
    "web.healthz": {"GET": Case("/healthz", public(200))},
    "static": {"GET": Case("/static/css/app.css", public(200))},
}
