"""Matrix entries of the auth package: login (and its second step), logout, sign-up, forgot
password / PIN, the pages emailed links open, and the Security settings page.

The public pages answer the same whoever asks, with two exceptions: the login and sign-up pages
send a logged-in user on into the portal (303), and nobody in the matrix is half-way through a
login, so the two second-factor pages send everyone back to the login page (303). Logout is
public too: it ends the session there is, if any, and always lands on the login page.

Security settings need a live web session (the disabled clerk and the API-only user have none).
Everyone logged in has their own page and cards; the PIN, the security questions and "require
2FA for clerks" belong to the owner, and a clerk posting to them gets 404 (those cards do not
exist for a clerk). The write cells post what a user would (a wrong current password, two PINs
that differ, valid questions ...) so that no cell changes what the principals log in or re-check
with, and none turns on "require 2FA for clerks" (which would stop every clerk at the
enrolment page).

``auth.end_session`` is about one session: "own" is another session of the Orders/Tickets clerk,
"ungranted" another session of the owner of A, "foreign" another session of the owner of B.
Only the session's own user may end it (303); for everyone else it does not exist (404), as for
a missing id.
"""
from sqlalchemy import select

from tests.authz.matrix import ALL_CLERKS, CLERKS, GUESTS, SINGLES, LOGIN, Case, each, logged_in, objs, public
from tests.authz.matrix._world import reads_nothing

OWNER_ONLY_CARD = logged_in(200, **each(ALL_CLERKS, 404))  # the PIN, questions, clerks-2FA cards


def _to_login(w, who, obj, response):
    """Public pages that send everyone to the login page."""
    if not response.headers.get("Location", "").endswith("/auth/login"):
        return f"expected a redirect to /auth/login, got {response.headers.get('Location')!r}"
    return None


def _says(text):
    def check(w, who, obj, response):
        if response.status_code == 200 and text not in response.get_data(as_text=True):
            return f"answered 200 without {text!r}"
        return None

    return check


def _unknown_email(w, who, obj):
    return {"email": f"nobody{w.serial()}@matrix.test"}


def _events_in_scope(w, who, obj, response):
    """?scope=all: the owner sees the events of their clerks; a clerk only their own, and
    nobody the users of another Master Account."""
    if response.status_code != 200:
        return None
    page = response.get_data(as_text=True)
    foreign = ["owner@a.test", "clerk@a.test"] if who == "other_owner" else ["owner@b.test"]
    if who in CLERKS:
        foreign += [w.emails[p] for p in ("owner",) + CLERKS if p != who]
    shown = [email for email in foreign if email in page]
    if shown:
        return f"shows events of {shown}"
    if who == "owner" and "clerk@a.test" not in page:
        return "the owner's 'All users' events do not show the clerks' logins"
    return None


# --- sessions of one user, to end one of them --------------------------------------------------

SESSION_OF = {"own": "clerk", "ungranted": "owner", "foreign": "other_owner"}


def _session(world, obj):
    from portal.auth import sessions
    from portal.auth.models import User, UserSession
    from portal.extensions import db
    from portal.types import utcnow

    user = db.session.get(User, world.users[SESSION_OF[obj]])
    sessions.start(user, now=utcnow())
    db.session.flush()
    return db.session.scalar(select(UserSession.id).where(UserSession.user_id == user.id)
                             .order_by(UserSession.id.desc()).limit(1))


BUILDERS = {"session": _session}


def _session_ended(w, who, obj, response):
    """A 303 must really have ended that session (and a 404 left it alone)."""
    from portal.auth.models import UserSession
    from portal.extensions import db

    session_id = w._last_session
    with w.app.app_context():
        revoked = db.session.get(UserSession, session_id).revoked_at if session_id else None
        db.session.remove()
    if response.status_code == 303 and revoked is None:
        return "answered 303 but the session is still live"
    if response.status_code != 303 and revoked is not None:
        return f"answered {response.status_code} but ended another user's session"
    return None


def _end_session_url(w, o):
    w._last_session = None if o == "missing" else w.fresh("session", o)
    return f"/auth/security/sessions/{w._last_session or w.id('session', 'missing')}/end"


QUESTIONS = {"q-question_1": "first_car", "q-answer_1": "Volvo", "q-hint_1": "Swedish",
             "q-question_2": "first_school", "q-answer_2": "Ecole Pasteur", "q-hint_2": "A chemist",
             "q-stepup": ""}

ROUTES = {
    # --- logging in and out ---------------------------------------------------------------------
    "auth.login": {
        # A logged-in user is sent on to the portal; a dead session (disabled, API-only) is
        # nobody, so they see the login form.
        "GET": reads_nothing("/auth/login", logged_in(303, **each(GUESTS, 200))),
        # An empty form is answered with the form and a message, whoever sends it.
        "POST": Case("/auth/login", public(200), data={},
                     check=_says("Please enter your email and password.")),
    },
    # Nobody here owes a second factor: the second step is not theirs to take.
    "auth.login_2fa": {
        "GET": reads_nothing("/auth/login/verify", public(303), check=_to_login),
        "POST": Case("/auth/login/verify", public(303), data={"code": "123456"}, check=_to_login),
    },
    "auth.login_enrol": {
        "GET": reads_nothing("/auth/login/two-factor-setup", public(303), check=_to_login),
        "POST": Case("/auth/login/two-factor-setup", public(303), data={"action": "start"},
                     check=_to_login),
    },
    # Ends the session there is (none for guests) and lands on the login page.
    "auth.logout": {"POST": Case("/auth/logout", public(303), fresh_session=True, check=_to_login)},

    # --- sign-up, forgotten secrets, emailed links ----------------------------------------------
    "auth.signup": {
        "GET": reads_nothing("/auth/signup", logged_in(303, **each(GUESTS, 200))),
        "POST": Case("/auth/signup", public(200), data={}),  # the form again, with its errors
    },
    "auth.signup_sent": {"GET": reads_nothing("/auth/signup/check-your-mailbox", public(200))},
    # The same answer whether the address is known or not (S12).
    "auth.forgot_password": {
        "GET": reads_nothing("/auth/forgot-password", public(200)),
        "POST": Case("/auth/forgot-password", public(200), data=_unknown_email),
    },
    "auth.forgot_pin": {
        "GET": reads_nothing("/auth/forgot-pin", public(200)),
        "POST": Case("/auth/forgot-pin", public(200), data=_unknown_email),
    },
    # Without a link's token in the session these pages only say the link is not valid.
    "auth.set_password": {
        "GET": reads_nothing("/auth/set-password", public(200)),
        "POST": Case("/auth/set-password", public(200),
                     data={"step": "password", "new_password": "Another!!Pass77",
                           "confirm_password": "Another!!Pass77"}),
    },
    "auth.reset_pin": {
        "GET": reads_nothing("/auth/reset-pin", public(200)),
        "POST": Case("/auth/reset-pin", public(200), data={"step": "pin", "pin": "1357",
                                                             "pin_confirm": "1357"}),
    },
    "auth.resend_link": {"POST": Case("/auth/resend-link", public(200), data={"kind": "password"})},
    # The live checklist beside a new-password field (it never says whose password is right).
    "auth.password_check": {"POST": Case("/auth/password-check", public(200),
                                         data={"new_password": "short"})},

    # --- Security settings ----------------------------------------------------------------------
    "auth.security": {"GET": reads_nothing("/auth/security", logged_in(200))},
    "auth.security_events": {"GET": reads_nothing("/auth/security/events?scope=all", logged_in(200),
                                         check=_events_in_scope)},
    "auth.change_password": {"POST": Case(
        "/auth/security/password", logged_in(200),
        data={"pw-current_password": "not-my-password", "pw-new_password": "Another!!Pass77",
              "pw-confirm_password": "Another!!Pass77"},
        check=_says("That is not your current password."))},
    "auth.change_pin": {"POST": Case(
        "/auth/security/pin", OWNER_ONLY_CARD,
        data={"pin-pin": "1357", "pin-pin_confirm": "7531", "pin-stepup": ""},
        check=_says("The two PINs are not the same."))},
    "auth.change_questions": {"POST": Case("/auth/security/questions",
                                           logged_in(303, **each(ALL_CLERKS, 404)), data=QUESTIONS)},
    "auth.clerks_two_factor": {"POST": Case(
        "/auth/security/clerks-two-factor", logged_in(303, **each(ALL_CLERKS, 404)),
        data={"c2-stepup": ""})},  # "require" left off: clerks keep logging in without 2FA
    # Two-factor set-up of one's own account (nobody in the matrix has it on).
    "auth.twofa_start": {"POST": Case("/auth/security/two-factor/start", logged_in(200),
                                      data={"tfs-stepup": ""})},
    "auth.twofa_confirm": {"POST": Case("/auth/security/two-factor/confirm", logged_in(200),
                                        data={"tfc-code": "000000"})},
    "auth.twofa_cancel": {"POST": Case("/auth/security/two-factor/cancel", logged_in(200))},
    "auth.twofa_codes": {"POST": Case("/auth/security/two-factor/recovery-codes", logged_in(200),
                                      data={"tfr-stepup": ""})},
    "auth.twofa_disable": {"POST": Case("/auth/security/two-factor/disable", logged_in(200),
                                        data={"tfo-stepup": ""})},
    "auth.end_other_sessions": {"POST": Case("/auth/security/sessions/others/end", logged_in(303))},
    "auth.end_session": {"POST": Case(_end_session_url, {
        **each(GUESTS, LOGIN),
        "owner": objs(404, 303, 404),
        "other_owner": objs(404, 404, 303),
        "clerk": objs(303, 404, 404),
        **each(("searcher", "supervisor", "refunder") + SINGLES, 404),
    }, check=_session_ended)},
}
