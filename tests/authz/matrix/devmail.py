"""Matrix entries of the development mailbox (/dev/mail). The matrix app runs the development
profile, where the mailbox is public by design; in testing and production it does not exist
(404, tests/web/test_basics.py)."""
from tests.authz.matrix import Case, public

ROUTES = {
    "devmail.index": {"GET": Case("/dev/mail/", public(200))},
    "devmail.show": {"GET": Case(lambda w, o: f"/dev/mail/{w.mail_id}", public(200), objects=False)},
    "devmail.show_html": {"GET": Case(lambda w, o: f"/dev/mail/{w.mail_id}/html", public(200),
                                    objects=False)},
}
