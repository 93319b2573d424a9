"""Matrix entries of the Accounts tab (owner only: DOMAIN.md §2, issue 5 item 8).

Every page of the tab needs the owner: clerks are refused (403) before anything is looked up,
the disabled clerk and the API-only user are nobody (login). An account is addressed by its
nickname inside the asking owner's own Master Account, so another Master Account's account is
not found (404), exactly like a nickname that does not exist (S2). Objects: the linked accounts
A1 (own), A2 (ungranted), B1 (foreign); routes that change an account act on a new one per cell
(``linked_account``); resend and cancel act on pending accounts (``pending_account``); the
add form's "link again" prefill on removed accounts (``removed_account``).

The confirmation link (``accounts.link``) is public: its token is the authority, whoever opens
it (the mailbox holder need not have a login), and a token that names nothing is refused.
"""
from datetime import timedelta

from tests.authz.matrix import (
    ALL_CLERKS,
    GUESTS,
    LOGIN,
    Case,
    each,
    logged_in,
    objs,
    public,
)
from tests.authz.matrix._world import reads_nothing


def _owners(ok) -> dict:
    """One account of the asking owner's Master Account: ``ok`` on A's accounts for the owner of
    A and on B's for the owner of B, 404 on the others and on a missing nickname; clerks 403."""
    return {
        **each(GUESTS, LOGIN),
        "owner": objs(ok, ok, 404),
        "other_owner": objs(404, 404, ok),
        **each(ALL_CLERKS, 403),
    }


def _account(suffix=""):
    """A1 / A2 / B1 (for pages and actions that change nothing)."""
    return lambda w, o: f"/accounts/{w.id('account', o)}/{suffix}"


_LAST: dict[str, str] = {}  # the nickname in the URL of the cell being run, for its form data


def _fresh(collection, suffix):
    """A new account per cell (the action changes or removes it)."""

    def url(w, o):
        _LAST[o] = w.nickname(collection, o, fresh=True)
        return f"/accounts/{_LAST[o]}/{suffix}"

    return url


def _lists_own_accounts(w, who, obj, response):
    """An owner's page names their own accounts and never another Master Account's."""
    if response.status_code != 200 or who not in ("owner", "other_owner"):
        return None
    page = response.get_data(as_text=True)
    mine, theirs = (("matrixb1",), ("matrixa1", "matrixa2")) if who == "other_owner" else \
        (("matrixa1", "matrixa2"), ("matrixb1",))
    if missing := [n for n in mine if n not in page]:
        return f"does not show {missing}"
    if shown := [n for n in theirs if n in page]:
        return f"shows another Master Account's {shown}"
    return None


def _relink_prefill(w, who, obj, response):
    """"Link again" fills the form from a removed account of one's own Master Account only."""
    if response.status_code != 200 or obj == "missing":
        return None
    email = f"{w.nickname('removed_account', obj)}@vendor.test"
    ours = (obj == "foreign") == (who == "other_owner")
    shown = email in response.get_data(as_text=True)
    if ours and not shown:
        return "did not prefill the removed account's details"
    if shown and not ours:
        return "prefilled the form with another Master Account's removed account"
    return None


def _new_account(w, who, obj):
    n = w.serial()
    return {"nickname": f"mxnew{n}", "source": "sandbox", "account_email": f"mxnew{n}@vendor.test",
            "password": "sandbox-pass", "timezone": "Europe/Berlin", "colour": "#10b981",
            "stepup": ""}


def _account_state(w, nickname) -> dict | None:
    """What the database says about the account, or None when it is gone."""
    from sqlalchemy import func, select

    from portal.accounts.models import LinkedAccount
    from portal.auth.models import OneTimeToken
    from portal.extensions import db

    with w.app.app_context():
        account = db.session.scalar(select(LinkedAccount).where(LinkedAccount.nickname == nickname))
        state = account and {
            "status": account.status, "has_secret": bool(account.ins_secret_enc),
            "link_sent_at": db.session.scalar(select(func.max(OneTimeToken.created_at)).where(
                OneTimeToken.linked_account_id == account.id, OneTimeToken.used_at.is_(None))),
        }
        db.session.remove()
    return state


def _did(what):
    """After an owner's 2xx/303 on a fresh account, the change is really made."""

    def check(w, who, obj, response):
        if response.status_code not in (200, 303) or who not in ("owner", "other_owner"):
            return None
        from portal.types import utcnow

        state = _account_state(w, _LAST[obj])
        done = {
            "cancelled": state is None,
            "resent": state and state["link_sent_at"]
            and state["link_sent_at"] > utcnow() - timedelta(minutes=1),
            "secret set": state and state["has_secret"],
            "removed": state and state["status"] == "removed",
        }[what]
        return None if done else f"answered {response.status_code} but the account was not {what}"

    return check


def _linked(w, who, obj, response):
    if response.status_code == 200 and "is linked</h1>" not in response.get_data(as_text=True):
        return "answered 200 but linked nothing"
    return None


def _link_token(w, o):
    return "x" * 43 if o == "missing" else w.id("account_link_token", o)


def _to_bare_link_page(w, who, obj, response):
    if response.headers.get("Location") != "/accounts/link/":
        return f"redirected to {response.headers.get('Location')!r}, not the bare link page"
    if response.headers.get("Referrer-Policy") != "no-referrer":
        return "the redirect carrying the token lacks Referrer-Policy: no-referrer"
    return None


SETTINGS = {"timezone": "America/New_York", "cs_email": "help@vendor.test", "colour": "#4f46e5",
            "customer_refund_days": "30", "vendor_refund_days": "60", "settle_hours": "24"}

ROUTES = {
    "accounts.index": {"GET": reads_nothing("/accounts/", logged_in(200, **each(ALL_CLERKS, 403)),
                                            check=_lists_own_accounts)},
    # ?nickname= of a removed account: "link again" with its details, from one's own Master
    # Account only (another's nickname gets the empty form, like a missing one).
    "accounts.new": {
        "GET": reads_nothing(
            lambda w, o: f"/accounts/new?nickname={w.nickname('removed_account', o)}",
            {**each(GUESTS, LOGIN), **each(("owner", "other_owner"), objs(200, 200, 200, 200)),
             **each(ALL_CLERKS, 403)},
            check=_relink_prefill),
        "POST": Case("/accounts/new", logged_in(303, **each(ALL_CLERKS, 403)), data=_new_account),
    },
    # The link in the confirmation mail: its first GET moves the token into the session and
    # redirects to the bare /accounts/link/ (S31), for every token alike (it is looked at there);
    # nothing is used up (the token is reused by every cell, so a GET that used it up would
    # fail the next one). The bare page without a token in the session: 404 (tests/accounts).
    "accounts.link": {"GET": reads_nothing(lambda w, o: f"/accounts/link/{_link_token(w, o)}",
                                           public(objs(303, 303, 303, 303)),
                                           check=_to_bare_link_page)},
    "accounts.link_answer": {"POST": Case(
        "/accounts/link/", public(objs(200, 200, 200, 410)), objects=True,
        data=lambda w, who, o: {"decision": "confirm", "token": "x" * 43 if o == "missing"
                                else w.fresh("account_link_token", o)},
        check=_linked)},
    "accounts.show": {"GET": reads_nothing(_account(), _owners(200))},
    "accounts.settings": {
        "GET": reads_nothing(_account("settings"), _owners(200)),
        "POST": Case(_fresh("linked_account", "settings"), _owners(303), data=SETTINGS),
    },
    # GET of a form's own URL (a reload after posting it): back to the settings page.
    "accounts.settings_forms": {"GET": reads_nothing(_account("ins-secret"), _owners(303))},
    # Answers the settings page with the new key shown once (200).
    "accounts.ins_secret": {"POST": Case(_fresh("linked_account", "ins-secret"), _owners(200),
                                         data={"generate": "y", "stepup": ""},
                                         check=_did("secret set"))},
    "accounts.reveal_secret": {"POST": Case(_account("ins-secret/reveal"), _owners(200),
                                            data={"stepup": ""})},
    "accounts.credentials": {"POST": Case(_fresh("linked_account", "credentials"), _owners(303),
                                          data={"password": "new-sandbox-pass", "stepup": ""})},
    "accounts.remove": {
        "GET": reads_nothing(_account("remove"), _owners(200)),
        "POST": Case(_fresh("linked_account", "remove"), _owners(303),
                     data=lambda w, who, o: {"confirm_nickname": _LAST.get(o, ""), "stepup": ""},
                     check=_did("removed")),
    },
    "accounts.resend": {"POST": Case(_fresh("pending_account", "resend"), _owners(303),
                                     check=_did("resent"))},
    "accounts.cancel": {"POST": Case(_fresh("pending_account", "cancel"), _owners(303),
                                     check=_did("cancelled"))},
}
