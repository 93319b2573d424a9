"""The data set the authorization matrix runs on, built once per test module.

Master Account A: owner, linked accounts A1 (granted to every A clerk) and A2 (granted to none),
the clerks of ``PRINCIPALS``. Master Account B: its owner and account B1. Objects of each
collection exist for A1 ("own"), A2 ("ungranted") and B1 ("foreign"); "missing" is an id that
does not exist. ``world.fresh(...)`` makes a new object per call, for routes that change or
delete what they act on.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update

from portal.accounts.models import ClerkAccountAccess
from portal.auth import sessions
from portal.auth.models import User, UserSession
from portal.extensions import db
from portal.notifications.mail import queue_email
from portal.types import utcnow
from portal.users import apikeys
from tests.authz.matrix import OBJECTS, PRINCIPALS
from tests.factories import PASSWORD, PIN, T0, Factory

MISSING_ID = 987_654_321
MISSING_NICKNAME = "nosuchaccount"
PERMS = {
    "clerk": ("orders_tickets",),
    "searcher": ("orders_tickets", "search_orders"),
    "supervisor": ("orders_tickets", "search_orders", "manage_users"),
    "refunder": ("orders_tickets", "refund_authority"),
    "search_only": ("search_orders",),
    "manager": ("manage_users",),
    "refund_only": ("refund_authority",),
    "api_reader": ("api_read",),
    "disabled": ("orders_tickets",),
    "api_only": ("api_read", "api_write"),
}


class World:
    def __init__(self, app):
        self.app = app
        self.make = Factory()
        self.users: dict[str, int] = {}  # principal -> user id
        self.emails: dict[str, str] = {}
        self.accounts: dict[str, int] = {}  # own / ungranted / foreign -> linked account id
        self.nicknames: dict[str, str] = {}
        self.api_keys: dict[str, str] = {}  # principal -> plaintext key (API users, owners)
        self.clients: dict = {}
        self.mail_id: int | None = None
        self._cache: dict[tuple[str, str], object] = {}
        self._builders: dict[str, Callable] = {}
        self._serial = itertools.count(1)

    # --- what feature files use -------------------------------------------------------------

    def id(self, collection: str, obj: str):
        """The id (or key) of the ``obj`` object of ``collection``, made once and reused."""
        if obj == "missing":
            return MISSING_NICKNAME if collection == "account" else MISSING_ID
        key = (collection, obj)
        if key not in self._cache:
            self._cache[key] = self._build(collection, obj)
        return self._cache[key]

    def fresh(self, collection: str, obj: str):
        """A new object per call (for routes that change or delete it)."""
        if obj == "missing":
            return self.id(collection, obj)
        return self._build(collection, obj)

    def account_for(self, principal: str) -> int:
        """A linked account ``principal`` may grant (their own Master Account's first)."""
        return self.accounts["foreign" if principal == "other_owner" else "own"]

    def serial(self) -> int:
        return next(self._serial)

    def register(self, collection: str, builder: Callable) -> None:
        """Add a collection: ``builder(world, obj) -> id`` runs in an app context."""
        self._builders[collection] = builder

    # --- building ----------------------------------------------------------------------------

    def _build(self, collection: str, obj: str):
        if obj not in OBJECTS:
            raise ValueError(f"unknown object kind {obj!r}")
        builder = self._builders.get(collection)
        if builder is None:
            method = getattr(self, f"_build_{collection}", None)
            if method is None:
                raise KeyError(f"no builder for collection {collection!r}: add BUILDERS (README.md)")
            builder = lambda world, kind: method(kind)  # noqa: E731
        with self.app.app_context():
            value = builder(self, obj)
            db.session.commit()
            db.session.remove()
        return value

    def account(self, obj: str):
        """The LinkedAccount of kind ``obj`` (inside an app context)."""
        from portal.accounts.models import LinkedAccount

        return db.session.get(LinkedAccount, self.accounts[obj])

    def _build_account(self, obj: str) -> str:
        return self.nicknames[obj]

    def _build_account_id(self, obj: str) -> int:
        return self.accounts[obj]

    def _build_transaction(self, obj: str) -> int:
        """A sale with a ticket (Orders/Tickets clerks may see it)."""
        sale = self.make.sale(self.account(obj), at=T0)
        self.make.ticket(sale, now=T0 + timedelta(days=1))
        return sale.id

    def _build_untracked_transaction(self, obj: str) -> int:
        """A sale without a ticket (only Search Orders and owners may see it)."""
        return self.make.sale(self.account(obj), at=T0).id

    def _build_ticket(self, obj: str) -> int:
        sale = self.make.sale(self.account(obj), at=T0)
        return self.make.ticket(sale, now=T0 + timedelta(days=1)).id

    def _build_user(self, obj: str) -> int:
        """A clerk to act on: in A with Orders/Tickets on A1 (own; a supervisor may edit them),
        in A on A2 (ungranted; a supervisor may only look), or a clerk of B (foreign)."""
        owner = db.session.get(User, self.users["other_owner" if obj == "foreign" else "owner"])
        n = self.serial()
        clerk = self.make.clerk(owner, perms=("orders_tickets",), accounts=[self.account(obj)],
                                email=f"target{n}-{obj}@matrix.test", first_name="Target",
                                last_name=f"{obj.title()}{n}")
        return clerk.id

    # --- linked accounts in every state (the Accounts tab acts on nicknames) --------------------

    def nickname(self, collection: str, obj: str, *, fresh: bool = False) -> str:
        """The nickname of an account of ``collection`` (``linked_account``, ``pending_account``,
        ``removed_account``); a nickname nobody has for ``missing``."""
        if obj == "missing":
            return MISSING_NICKNAME
        return self.fresh(collection, obj) if fresh else self.id(collection, obj)

    def _owner_of(self, obj: str) -> User:
        return db.session.get(User, self.users["other_owner" if obj == "foreign" else "owner"])

    def _new_nickname(self, prefix: str, obj: str) -> str:
        return f"mx{prefix}{self.serial()}{obj[:3]}"  # [a-z0-9]{3,32}, unlike the fixed ones

    def _build_linked_account(self, obj: str) -> str:
        """A new linked account: of A granted to every A clerk (own), of A granted to none
        (ungranted), of B (foreign). For routes that change or remove an account."""
        account = self.make.account(self._owner_of(obj), self._new_nickname("l", obj))
        if obj == "own":
            for name in PERMS:
                db.session.add(ClerkAccountAccess(user_id=self.users[name],
                                                  linked_account_id=account.id))
        return account.nickname

    def _pending(self, obj: str, *, issued_at) -> tuple:
        """A pending account (waiting for its confirmation link) and the link's token."""
        from portal.auth import tokens
        from portal.auth.models import TokenPurpose

        owner = self._owner_of(obj)
        account = self.make.account(owner, self._new_nickname("p", obj), status="pending")
        token = tokens.issue(TokenPurpose.ACCOUNT_LINK, linked_account=account,
                             email=account.account_email, data={"owner_id": owner.id},
                             ttl=timedelta(hours=24), now=issued_at)
        return account, token

    def _build_pending_account(self, obj: str) -> str:
        """A pending account of A (own, ungranted: no clerk can hold a pending account) or of B
        (foreign); its link was mailed five minutes ago, so a resend is not throttled."""
        account, _ = self._pending(obj, issued_at=utcnow() - timedelta(minutes=5))
        return account.nickname

    def _build_account_link_token(self, obj: str) -> str:
        """The token of the confirmation link of a new pending account of A or B."""
        _, token = self._pending(obj, issued_at=utcnow())
        return token

    def _build_removed_account(self, obj: str) -> str:
        """A removed account (history kept, read only) of A (own: once granted to the A clerks,
        whose grants ended with the removal; ungranted) or of B (foreign)."""
        account = self.make.account(self._owner_of(obj), self._new_nickname("r", obj))
        account.status, account.removed_at = "removed", T0 + timedelta(days=1)
        return account.nickname

    # --- the Transactions tab: subscriptions and refunds (times from the real clock: the views
    # --- act at utcnow(), and a refund window or a bill date must still be open then) ---------

    def _recent_sale(self, obj: str, *, recurring: bool = False, ticket: str | None = None):
        """A sale of five days ago on the ``obj`` account, with a customer's ticket of
        ``ticket`` type opened an hour ago (None: no ticket)."""
        now = utcnow()
        sale = self.make.sale(self.account(obj), at=now - timedelta(days=5), recurring=recurring)
        if ticket is not None:
            self.make.ticket(sale, ticket_type=ticket, now=now - timedelta(hours=1))
        return sale

    def _build_subscription_transaction(self, obj: str) -> int:
        """The sale of an active subscription (next bill in 25 days), tied to a ticket."""
        return self._recent_sale(obj, recurring=True, ticket="tech_support").id

    def _build_untracked_subscription_transaction(self, obj: str) -> int:
        """The sale of an active subscription without a ticket (Search Orders users only)."""
        return self._recent_sale(obj, recurring=True).id

    def _build_paused_subscription_transaction(self, obj: str) -> int:
        """The sale of a subscription paused until 40 days from now, tied to a ticket."""
        return self._paused(obj, ticket="tech_support")

    def _build_untracked_paused_subscription_transaction(self, obj: str) -> int:
        """The same without a ticket (Search Orders users only)."""
        return self._paused(obj, ticket=None)

    def _paused(self, obj: str, *, ticket: str | None) -> int:
        sale = self._recent_sale(obj, recurring=True, ticket=ticket)
        now = utcnow()
        sub = sale.subscription
        sub.status, sub.paused_at = "paused", now - timedelta(hours=2)
        sub.resume_at = sub.next_bill_at = now + timedelta(days=40)
        return sale.id

    def _build_refund_ticket(self, obj: str) -> int:
        """A customer's refund request an hour old (still requested: nothing processed yet)."""
        sale = self._recent_sale(obj)
        return self.make.ticket(sale, ticket_type="refund", now=utcnow() - timedelta(hours=1)).id

    def _build_returned_refund_ticket(self, obj: str) -> int:
        """A refund request whose return label the account's owner recorded as sent (the refund
        is held for the return, not yet handed off): the Escalations "returns" list."""
        from portal.authz.scope import principal_for
        from portal.tickets import services
        from portal.tickets.models import Ticket

        ticket = db.session.get(Ticket, self._build_refund_ticket(obj))
        owner = self._owner_of(obj)
        services.record_return(services.Actor.for_user(owner, principal_for(owner)), ticket,
                               "label_sent", "Return label sent for the matrix.",
                               now=utcnow() - timedelta(minutes=30))
        return ticket.id


def build(app) -> World:
    """Create the data and one logged-in test client per principal."""
    world = World(app)
    with app.app_context():
        make = world.make
        owner = make.owner(email="owner@a.test")
        other = make.owner(email="owner@b.test")
        a1, a2 = make.account(owner, "matrixa1"), make.account(owner, "matrixa2")
        b1 = make.account(other, "matrixb1")
        world.accounts = {"own": a1.id, "ungranted": a2.id, "foreign": b1.id}
        world.nicknames = {"own": a1.nickname, "ungranted": a2.nickname, "foreign": b1.nickname}
        world.users = {"owner": owner.id, "other_owner": other.id}
        for name, perms in PERMS.items():
            clerk = make.clerk(owner, perms=perms, accounts=[a1], email=f"{name}@a.test",
                               first_name=name.title(), last_name="Matrix",
                               api_only=name == "api_only")
            world.users[name] = clerk.id
        for name in ("owner", "other_owner", "api_only"):
            world.api_keys[name] = apikeys.issue(db.session.get(User, world.users[name]), now=utcnow())
        message = queue_email("stepup_blocked", to="owner@a.test", subject="Matrix mail",
                              context={"user": owner, "owner": owner, "until": utcnow()})
        db.session.commit()
        world.mail_id = message.id
        message.payload = {**message.payload, "html": "<p>Matrix mail</p>"}
        db.session.commit()
        world.emails = {name: db.session.get(User, uid).email for name, uid in world.users.items()}
        db.session.remove()

    for name in PRINCIPALS:
        world.clients[name] = app.test_client()
    for name in ("owner", "other_owner", "clerk", "searcher", "supervisor", "refunder",
                 "search_only", "manager", "refund_only", "api_reader", "disabled"):
        response = world.clients[name].post(
            "/auth/login", data={"email": world.emails[name], "password": PASSWORD})
        assert response.status_code in (302, 303), f"{name} could not log in"
    forge_session(world, world.clients["api_only"], "api_only")
    with app.app_context():
        # Everyone has just passed the step-up re-check (PIN/password) on this session, so
        # routes behind it answer as they would in the middle of real work.
        db.session.execute(update(UserSession).values(pin_verified_at=utcnow()))
        db.session.execute(update(User).where(User.id == world.users["disabled"]).values(is_enabled=False))
        db.session.commit()
        db.session.remove()
    return world


def forge_session(world: World, client, principal: str) -> None:
    """Put a server-side session of ``principal`` in ``client``'s cookie without the login form
    (also for users the login form refuses: the session must still be worthless)."""
    if principal == "anon":
        return
    with world.app.app_context():
        user = db.session.get(User, world.users[principal])
        token = sessions.start(user, now=utcnow())
        db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                           .values(pin_verified_at=utcnow()))
        db.session.commit()
        db.session.remove()
    with client.session_transaction() as state:
        state["_user_id"] = token
        state["_fresh"] = True


def secret_of(principal: str) -> str:
    """What ``principal`` types at the step-up re-check."""
    return PIN if principal in ("owner", "other_owner") else PASSWORD


# --- GET requests write nothing ---------------------------------------------------------------

FOOTPRINT = (  # what a write of the auth, accounts, users or tickets features leaves behind
    "SELECT count(*) FROM audit_events",
    "SELECT count(*) FROM outbox",
    "SELECT count(*) FROM one_time_tokens WHERE used_at IS NULL",
    "SELECT count(*) FROM linked_accounts WHERE status = 'linked'",
    "SELECT count(*) FROM linked_accounts WHERE status = 'pending'",
    "SELECT count(*) FROM clerk_account_access",
    "SELECT count(*) FROM users WHERE is_enabled AND deleted_at IS NULL",
    "SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL",
    "SELECT count(*) FROM security_answers",
    "SELECT count(*) FROM ticket_events",
)


def footprint(world: World) -> tuple:
    from sqlalchemy import text

    with world.app.app_context():
        row = db.session.execute(text("SELECT " + ", ".join(f"({q})" for q in FOOTPRINT))).one()
        db.session.remove()
    return tuple(row)


def reads_nothing(url, expect, *, check=None, **kwargs):
    """A ``Case`` for a GET that must not change anything (no audit row, mail, token, session,
    account or grant appears, is used up or goes away), on top of ``check``. The objects the
    URL names are made before the snapshot."""
    from tests.authz.matrix import Case

    def url_then_snapshot(world, obj):
        path = url(world, obj) if callable(url) else url
        world._footprint = footprint(world)
        return path

    def unchanged(world, who, obj, response):
        after = footprint(world)
        if after != world._footprint:
            changed = [query.split("FROM ")[1]
                       for query, a, b in zip(FOOTPRINT, world._footprint, after) if a != b]
            return f"a GET changed data: {', '.join(changed)}"
        return check(world, who, obj, response) if check else None

    kwargs.setdefault("objects", callable(url))
    return Case(url_then_snapshot, expect, check=unchanged, **kwargs)
