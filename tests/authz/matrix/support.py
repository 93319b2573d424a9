"""Matrix entries of the signed-link pages (no login). Still stubs answering 404 to any token:
the support feature replaces these with cases that use real and tampered tokens."""
from tests.authz.matrix import Case, public

ROUTES = {
    "support.vendor_link": {"GET": Case("/s/v/not-a-token", public(404))},
    "support.customer_link": {"GET": Case("/s/c/not-a-token", public(404))},
}
