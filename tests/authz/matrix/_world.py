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
    for name in ("owner", "other_owner", "clerk", "searcher", "supervisor", "refunder", "disabled"):
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
