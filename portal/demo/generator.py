"""Demo and benchmark data, deterministic from a seed and fast (bulk inserts).

Sizes:
  demo  3 sandbox accounts, ~7,000 transactions, ~700 tickets, the named demo users.
  M     10 accounts, 100,000 transactions, 20,000 tickets.
  L     50 accounts, 1,000,000 transactions, 200,000 tickets, ~2,000,000 events, 200 clerks.

Tickets are not invented state by state: each one is *lived* through ``tickets/lifecycle.py``
(opened, answered, changed, closed, with the automatic timer steps in between), so the data
is exactly what the portal itself would have produced, and nothing is overdue at ``now``.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from portal.accounts.models import ClerkAccountAccess, LinkedAccount, MasterAccount
from portal.auth import hashing
from portal.auth.models import SecurityAnswer, User
from portal.crypto import encrypt, pepper
from portal.extensions import db
from portal.reports import aggregate as report_tables
from portal.tickets import lifecycle
from portal.tickets.lifecycle import ActorKind, EventKind, Party, Refused, TicketType
from portal.tickets.models import Ticket, TicketEvent
from portal.transactions import services as txn_services
from portal.transactions.models import (
    DailySales,
    LineItem,
    Product,
    Subscription,
    Transaction,
)

DEMO_PASSWORD = "Demo!!Pass12"
DEMO_PIN = "2468"
OWNER_EMAIL = "owner@demo.test"


@dataclass(frozen=True)
class Size:
    name: str
    accounts: int
    sales: int  # original sales; rebills/refunds/chargebacks come on top
    tickets: int
    clerks: int
    days: int = 120  # history length; the last 90 days are the busy ones
    moves: tuple[int, int] = (0, 5)  # human actions per ticket (benchmark sets talk longer)
    gap_hours: float = 70  # longest pause between two of them


SIZES = {
    "demo": Size("demo", 3, 5200, 720, 0),
    "M": Size("M", 10, 72000, 20000, 40, moves=(7, 18), gap_hours=8),
    "L": Size("L", 50, 720000, 200000, 200, moves=(7, 18), gap_hours=8),
}

DEMO_ACCOUNTS = [
    ("ketovital", "America/New_York", "#4f46e5", "USD"),
    ("mindshift", "Europe/Berlin", "#0ea5e9", "EUR"),
    ("fitforge", "America/Los_Angeles", "#f59e0b", "USD"),
]
PALETTE = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6",
           "#f97316", "#64748b", "#ec4899", "#84cc16", "#06b6d4"]
ZONES = ["America/New_York", "Europe/Berlin", "America/Los_Angeles", "Europe/London",
         "America/Chicago", "Australia/Sydney", "Europe/Madrid", "America/Denver"]

PRODUCT_NAMES = {
    "ketovital": [("KV-GUIDE", "Keto Vital 30-Day Guide", False, 3700), ("KV-COOK", "Keto Cookbook Deluxe", False, 2700),
                  ("KV-CLUB", "Keto Vital Club (monthly)", True, 1995), ("KV-COACH", "Keto Coaching Plus (monthly)", True, 4700)],
    "mindshift": [("MS-COURSE", "MindShift Focus Course", False, 4900), ("MS-AUDIO", "Deep Sleep Audio Pack", False, 1900),
                  ("MS-DAILY", "MindShift Daily (monthly)", True, 1500), ("MS-PRO", "MindShift Pro Coaching (monthly)", True, 6900)],
    "fitforge": [("FF-PLAN", "FitForge 12-Week Plan", False, 5700), ("FF-BANDS", "Resistance Bands Kit", False, 3400),
                 ("FF-APP", "FitForge App (monthly)", True, 999), ("FF-ELITE", "FitForge Elite (monthly)", True, 2900)],
}
FIRST = {
    "en": ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Emily",
           "Chris", "Sarah", "Daniel", "Jessica", "Kevin", "Laura", "Brian", "Megan", "Jason", "Olivia"],
    "de": ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Sophie", "Paul", "Marie", "Leon", "Hannah",
           "Maximilian", "Laura", "Tim", "Julia", "Niklas", "Lena", "Jan", "Katharina", "Tobias", "Mia"],
    "es": ["Alejandro", "Lucía", "Daniel", "Sofía", "Pablo", "María", "Javier", "Carmen", "Diego", "Elena",
           "Sergio", "Paula", "Carlos", "Marta", "Jorge", "Laura", "Andrés", "Isabel", "Manuel", "Claudia"],
}
LAST = {
    "en": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark",
           "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
           "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann"],
    "es": ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
           "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez"],
}
COUNTRY = {"en": ["US", "US", "US", "GB", "CA", "AU"], "de": ["DE", "DE", "AT", "CH"], "es": ["ES", "MX", "AR", "CO"]}
AFFILIATES = ["healthhub", "ketoqueen", "fitpromo", "mindguru", "dealfinder", "reviewpro", "bestbuys",
              "wellnessco", "topoffers", "gymrat", "zenmaster", "slimfast22"]
PAYMENT_METHODS = ["VISA", "VISA", "VISA", "MSTR", "MSTR", "AMEX", "DISC", "PYPL", "PYPL"]
RECEIPT_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

CUSTOMER_OPENERS = {
    "tech_support": {
        "en": ["I can't log in to the members area since yesterday.", "The download link in my receipt does not work.",
               "The app crashes when I open the meal planner.", "I never received my access details."],
        "de": ["Ich kann mich seit gestern nicht mehr im Mitgliederbereich anmelden.", "Der Download-Link funktioniert nicht.",
               "Die App stürzt beim Öffnen ab.", "Ich habe meine Zugangsdaten nie erhalten."],
        "es": ["No puedo iniciar sesión en el área de miembros.", "El enlace de descarga no funciona.",
               "La aplicación se cierra al abrirla.", "Nunca recibí mis datos de acceso."],
    },
    "refund": {
        "en": ["This product is not what I expected, please refund me.", "I bought this twice by mistake.",
               "The program does not work for me, I would like my money back."],
        "de": ["Das Produkt entspricht nicht meinen Erwartungen, bitte erstatten.", "Ich habe versehentlich doppelt gekauft.",
               "Das Programm funktioniert bei mir nicht, ich möchte mein Geld zurück."],
        "es": ["El producto no es lo que esperaba, quiero un reembolso.", "Lo compré dos veces por error.",
               "El programa no funciona para mí, quiero mi dinero de vuelta."],
    },
    "cancel": {
        "en": ["Please cancel my subscription, I no longer need it.", "I did not realise this was a monthly charge."],
        "de": ["Bitte kündigen Sie mein Abonnement.", "Mir war nicht klar, dass es monatlich abgebucht wird."],
        "es": ["Por favor cancelen mi suscripción.", "No sabía que era un cargo mensual."],
    },
}
CLERK_REPLIES = [
    "Thanks for reaching out! I have reset your access, please try again now.",
    "Sorry about the trouble. Here is a fresh download link for you.",
    "Could you tell me which device and browser you are using?",
    "I have re-sent your access details to this email address.",
    "Happy to help: the meal planner needs the latest app version, please update.",
    "Following up on your request, is everything working now?",
]
CUSTOMER_REPLIES = [
    "Thank you, it works now!", "Still not working, I get an error page.", "I use Chrome on Windows 11.",
    "Got the email, thanks a lot.", "Can you please check again? Nothing changed.",
]
CLOSE_NOTES = ["Customer confirmed the issue is solved.", "Resolved, closing the ticket.",
               "Customer agreed to keep the product after our help."]
CHANGE_NOTES = ["Customer agreed to try the updated version instead of a refund.",
                "Customer now wants a refund after all.", "Converted on the customer's request."]


# ---------------------------------------------------------------------------------------------


@dataclass
class Gen:
    rng: random.Random
    now: datetime
    size: Size
    ids: dict[str, int] = field(default_factory=dict)
    txns: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    subs: list[dict] = field(default_factory=list)
    tickets: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    daily: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    receipts: set[str] = field(default_factory=set)

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]


def _max_id(model) -> int:
    return db.session.scalar(select(func.coalesce(func.max(model.id), 0)))


def _receipt(g: Gen) -> str:
    while True:
        value = "".join(g.rng.choice(RECEIPT_CHARS) for _ in range(8))
        if value not in g.receipts:
            g.receipts.add(value)
            return value


def _add_txn(g: Gen, account: dict, row: dict) -> dict:
    row["id"] = g.next_id("transactions")
    row["linked_account_id"] = account["id"]
    row.setdefault("is_test", row["txn_type"].startswith("TEST_"))
    row.setdefault("shipping_cents", 0)
    row.setdefault("tax_cents", 0)
    row.setdefault("quantity", 1)
    g.txns.append(row)
    increments = txn_services.daily_increments(row["txn_type"], row["amount_cents"])
    if increments:
        day = row["occurred_at"].astimezone(account["zone"]).date()
        bucket = g.daily[(account["id"], day, row["currency"])]
        for col, value in increments.items():
            bucket[col] += value
    return row


def _customer(g: Gen, locale: str) -> dict:
    first = g.rng.choice(FIRST[locale])
    last = g.rng.choice(LAST[locale])
    n = g.rng.randint(1, 99999)
    email = f"{first}.{last}{n}@example.{ 'com' if locale == 'en' else locale}".lower()
    email = (email.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("í", "i")
             .replace("é", "e").replace("á", "a").replace("ó", "o").replace("ú", "u").replace("ñ", "n"))
    return {"customer_first_name": first, "customer_last_name": last, "customer_last_name_lc": last.lower(),
            "customer_first_name_lc": first.lower(), "customer_email": email, "customer_country": g.rng.choice(COUNTRY[locale]), "locale": locale}


def _make_sales(g: Gen, account: dict, count: int) -> list[dict]:
    """Sales, rebills (while subscribed), refunds, chargebacks and a few test sales."""
    sales = []
    horizon = timedelta(days=g.size.days)
    locales = account["locales"]
    for _ in range(count):
        # Busier recently: the square root skews toward now.
        age = horizon * (1 - g.rng.random() ** 0.75)
        at = (g.now - age).replace(microsecond=0)
        product = g.rng.choice(account["products"])
        locale = g.rng.choice(locales)
        test = g.rng.random() < 0.01
        receipt = _receipt(g)
        row = {
            "receipt": receipt, "sale_receipt": receipt,
            "txn_type": "TEST_SALE" if test else "SALE",
            "occurred_at": at, "amount_cents": product["price_cents"], "currency": account["currency"],
            "affiliate": g.rng.choice(AFFILIATES) if g.rng.random() < 0.6 else None,
            "payment_method": "TEST" if test else g.rng.choice(PAYMENT_METHODS),
            "tracking_id": None, "product_id": product["id"], "sku": product["sku"],
            "product_title": product["title"], "recurring": product["recurring"], "subscription_id": None,
            "raw": None, "customer_postal_code": None,
            **_customer(g, locale),
        }
        if account["currency"] == "USD" and g.rng.random() < 0.08:
            row["currency"] = "EUR"
        sale = _add_txn(g, account, row)
        g.items.append({"id": g.next_id("line_items"), "transaction_id": sale["id"], "sku": product["sku"],
                        "title": product["title"], "quantity": 1, "amount_cents": sale["amount_cents"],
                        "recurring": product["recurring"], "line_type": "ORIGINAL"})
        sale["_charges"] = [sale]
        sale["_product"] = product
        sale["_account"] = account
        if product["recurring"]:
            _subscribe(g, account, sale, product)
        if not test:
            roll = g.rng.random()
            if roll < 0.05:
                _reverse(g, account, sale, "RFND", days=g.rng.uniform(1, 25))
            elif roll < 0.06:
                _reverse(g, account, sale, "CGBK", days=g.rng.uniform(10, 50))
        sales.append(sale)
    return sales


def _subscribe(g: Gen, account: dict, sale: dict, product: dict) -> None:
    sub_id = g.next_id("subscriptions")
    sale["subscription_id"] = sub_id
    at = sale["occurred_at"]
    interval = timedelta(days=product["rebill_days"])
    status = "active"
    payments = 1
    cancelled_at = None
    lifetime = g.rng.choice([1, 2, 3, 4, 6, 12, 99])
    nxt = at + interval
    while nxt <= g.now:
        if payments >= lifetime:
            status, cancelled_at = "cancelled", nxt - timedelta(days=g.rng.uniform(1, 5))
            break
        n = payments
        rebill = _add_txn(g, account, {
            **{k: v for k, v in sale.items() if not k.startswith("_") and k != "id"},
            "receipt": f"{sale['receipt']}-{n}", "txn_type": "TEST_BILL" if sale["is_test"] else "BILL",
            "occurred_at": nxt, "amount_cents": product["rebill_cents"],
        })
        sale["_charges"].append(rebill)
        payments += 1
        nxt += interval
    g.subs.append({
        "id": sub_id, "linked_account_id": account["id"], "product_id": product["id"],
        "sale_transaction_id": sale["id"], "status": status, "rebill_cents": product["rebill_cents"],
        "currency": sale["currency"], "interval_days": product["rebill_days"], "processed_payments": payments,
        "started_at": at, "next_bill_at": nxt if status == "active" else None,
        "paused_at": None, "resume_at": None, "cancelled_at": cancelled_at,
    })
    sale["_sub"] = g.subs[-1]


def _reverse(g: Gen, account: dict, sale: dict, kind: str, *, days: float, at: datetime | None = None) -> dict | None:
    charge = sale["_charges"][-1]
    when = at or min(g.now - timedelta(minutes=5), charge["occurred_at"] + timedelta(days=days))
    if when <= charge["occurred_at"] or charge.get("_reversed"):
        return None
    charge["_reversed"] = True
    row = _add_txn(g, account, {
        **{k: v for k, v in charge.items() if not k.startswith("_") and k != "id"},
        "txn_type": ("TEST_" if charge["is_test"] else "") + kind, "occurred_at": when,
    })
    if sale.get("_sub") and sale["_sub"]["status"] == "active":
        sale["_sub"].update(status="cancelled", cancelled_at=when, next_bill_at=None)
    return row


# ---------------------------------------------------------------------------------------------
# Tickets, lived through the lifecycle


@dataclass
class Person:
    kind: ActorKind
    user_id: int | None
    label: str
    accounts: frozenset[int] | None = None  # None: all
    refund_authority: bool = False


def _live_ticket(g: Gen, sale: dict, people: dict, ticket_type: TicketType, source: str) -> None:
    account = sale["_account"]
    if sale["_charges"][-1].get("_reversed"):
        return  # already refunded or charged back: nobody opens a ticket on it
    rules = lifecycle.Rules(tz=account["zone"])
    charge_at = sale["_charges"][-1]["occurred_at"]
    window = timedelta(days=55 if source == "customer" else 85)
    start = charge_at + timedelta(minutes=g.rng.uniform(30, 60 * 24 * 20))
    if start >= g.now - timedelta(minutes=10):
        start = g.now - timedelta(minutes=g.rng.uniform(10, 60 * 30))
    if start <= charge_at or start - charge_at > window:
        return
    staff = [p for p in people["staff"] if p.accounts is None or account["id"] in p.accounts]
    authority = [p for p in staff if p.refund_authority]
    customer = Person(ActorKind.CUSTOMER, None, f"{sale['customer_first_name']} {sale['customer_last_name']}")
    if source in ("customer", "phone"):
        opener = customer if source == "customer" else Person(ActorKind.PHONE, None, "ClickBank phone support")
    elif source == "api":
        opener = people["api"]
    elif ticket_type.is_money:
        opener = g.rng.choice(authority) if authority else people["owner"]
    else:
        opener = g.rng.choice(staff) if staff else people["owner"]
    if source == "vendor":
        opener = people["owner"]
    by = opener.kind.party
    try:
        state = lifecycle.open_ticket(ticket_type, by=by, sale_at=charge_at, recurring=sale["recurring"],
                                      now=start, rules=rules)
    except Refused:
        return
    locale = sale["locale"]
    ticket_id = g.next_id("tickets")
    opening = g.rng.choice(CUSTOMER_OPENERS[ticket_type.value][locale]) if by is Party.CUSTOMER else \
        f"Opened for the customer: {g.rng.choice(CUSTOMER_OPENERS[ticket_type.value]['en'])}"
    ticket = {
        "id": ticket_id, "linked_account_id": account["id"], "transaction_id": sale["id"],
        "receipt": sale["receipt"], "source": source, "locale": locale, "opened_at": start,
        "opened_by_id": opener.user_id, "updated_at": start, "closed_at": None,
        "customer_first_name": sale["customer_first_name"], "customer_last_name": sale["customer_last_name"],
        "customer_email": sale["customer_email"], "description": opening,
        "product_type": "recurring" if sale["recurring"] else "standard",
        "amount_cents": sale["amount_cents"], "currency": sale["currency"],
        "return_status": None, "handoff_at": None, "external_id": None, "version": 1,
    }
    events: list[dict] = []

    def event(kind, actor: Person, at, st, comment=None, frm=None, to=None, agreed=False, data=None):
        events.append({
            "id": g.next_id("ticket_events"), "ticket_id": ticket_id, "linked_account_id": account["id"],
            "at": at, "kind": kind.value, "actor_kind": actor.kind.value, "actor_user_id": actor.user_id,
            "actor_label": actor.label, "ticket_type": st.ticket_type.value, "from_value": frm,
            "to_value": to, "comment": comment, "customer_agreed": agreed, "data": data,
        })
        ticket["version"] += 1
        ticket["updated_at"] = at

    system = Person(ActorKind.SYSTEM, None, "System")
    event(EventKind.OPENED, opener, start, state, comment=opening, to=ticket_type.value)
    ticket["version"] = 1

    def catch_up(st, until):
        # Every step due by ``until`` is run at its own due time, as the sweep would have run it
        # then. Advancing "at ``until``" would be a late catch-up: on a weekend in the account's
        # zone lifecycle.advance then waits for Monday, and a demo built on a Saturday or Sunday
        # would keep weeks-old deadlines open as "due now". Deadlines are always on weekdays
        # (the weekend rule), so running each at its due time is what a live portal did.
        while not st.is_closed and st.next_action_at is not None and st.next_action_at <= until:
            step = lifecycle.advance(st, st.next_action_at, rules)
            if step is None:
                return st
            at = step.due_at
            data = None
            if step.event is EventKind.PROCESSING and st.ticket_type is TicketType.REFUND:
                refund = _reverse(g, account, sale, "RFND", days=0, at=at)
                data = {"refund_receipt": refund["receipt"]} if refund else None
            if step.event in (EventKind.PROCESSING, EventKind.FINALIZED) and sale.get("_sub"):
                if sale["_sub"]["status"] == "active":
                    sale["_sub"].update(status="cancelled", cancelled_at=at, next_bill_at=None)
            st = step.state
            event(step.event, system, at, st, data=data,
                  to=st.refund_state.value if st.refund_state else st.status.value)
            if st.is_closed:
                ticket["closed_at"] = at
        return st

    # A few human moves, each at a random later time, with the timers running in between.
    t = start
    moves = g.rng.randint(*g.size.moves)
    for n in range(moves):
        # The first answer usually comes within hours, so some requests are saved in time.
        t = t + timedelta(hours=g.rng.uniform(0.2, 20) if n == 0 else g.rng.uniform(0.5, g.size.gap_hours))
        if t >= g.now:
            break
        state = catch_up(state, t)
        if state.is_closed:
            if g.rng.random() < 0.35 and state.refund_state is not lifecycle.RefundState.FINALIZED:
                actor = customer if g.rng.random() < 0.5 else (g.rng.choice(staff) if staff else people["owner"])
                try:
                    state = lifecycle.reopen(state, by=actor.kind.party, now=t, rules=rules)
                except Refused:
                    break
                ticket["closed_at"] = None
                event(EventKind.REOPENED, actor, t, state, comment="Reopening: the problem came back.",
                      frm="closed", to="reopened")
                continue
            break
        roll = g.rng.random()
        clerk = g.rng.choice(staff) if staff else people["owner"]
        try:
            if roll < 0.45:
                who = clerk if state.last_party is not Party.VENDOR else customer
                text_ = g.rng.choice(CLERK_REPLIES if who is clerk else CUSTOMER_REPLIES)
                state = lifecycle.comment(state, by=who.kind.party, now=t, rules=rules)
                event(EventKind.COMMENTED, who, t, state, comment=text_)
                if who is clerk and g.size.name != "demo" and g.rng.random() < 0.7:
                    t = t + timedelta(minutes=g.rng.uniform(5, 180))  # the customer answers
                    if t < g.now:
                        state = lifecycle.comment(state, by=Party.CUSTOMER, now=t, rules=rules)
                        event(EventKind.COMMENTED, customer, t, state, comment=g.rng.choice(CUSTOMER_REPLIES))
            elif roll < 0.6 and state.ticket_type.is_money:
                before = state.ticket_type
                state = lifecycle.change_type(state, TicketType.TECH_SUPPORT, by=Party.VENDOR, now=t, rules=rules,
                                              customer_agreed=True)
                event(EventKind.TYPE_CHANGED, clerk, t, state, comment=g.rng.choice(CHANGE_NOTES),
                      frm=before.value, to="tech_support", agreed=True)
            elif roll < 0.68 and state.ticket_type is TicketType.TECH_SUPPORT:
                state = lifecycle.change_type(state, TicketType.REFUND, by=Party.CUSTOMER, now=t, rules=rules)
                event(EventKind.TYPE_CHANGED, customer, t, state, comment="I would like a refund instead.",
                      frm="tech_support", to="refund")
            elif roll < 0.68 + (0.17 if g.size.name == "demo" else 0.04):
                who = clerk if g.rng.random() < 0.7 else customer
                state = lifecycle.close(state, by=who.kind.party, now=t, customer_agreed=True)
                event(EventKind.CLOSED, who, t, state, comment=g.rng.choice(CLOSE_NOTES), frm="open",
                      to="closed", agreed=who is clerk and state.ticket_type.is_money)
                ticket["closed_at"] = t
            else:
                who = clerk
                state = lifecycle.comment(state, by=Party.VENDOR, now=t, rules=rules)
                event(EventKind.COMMENTED, who, t, state, comment=g.rng.choice(CLERK_REPLIES))
        except Refused:
            continue
    state = catch_up(state, g.now)
    ticket.update({
        "ticket_type": state.ticket_type.value, "status": state.status.value,
        "refund_state": state.refund_state.value if state.refund_state else None,
        "vendor_initiated": state.vendor_initiated, "escalated": state.escalated,
        "next_action_at": state.next_action_at,
        "next_action": state.next_action.value if state.next_action else None,
        "last_party": state.last_party.value if state.last_party else None,
        "timer_started_at": state.timer_started_at, "warnings_sent": state.warnings_sent,
        "version": len(events),
    })
    g.tickets.append(ticket)
    g.events.extend(events)


TICKET_SOURCES = ["customer"] * 11 + ["phone"] * 2 + ["clerk"] * 3 + ["vendor"] * 2 + ["api"] * 2


def _make_tickets(g: Gen, sales: list[dict], people: dict, count: int) -> None:
    candidates = [s for s in sales if not s["is_test"] and s["occurred_at"] > g.now - timedelta(days=100)]
    g.rng.shuffle(candidates)
    used = 0
    for sale in candidates:
        if used >= count:
            break
        roll = g.rng.random()
        if sale["recurring"] and roll < 0.2:
            kind = TicketType.CANCEL
        elif roll < 0.55:
            kind = TicketType.TECH_SUPPORT
        else:
            kind = TicketType.REFUND
        before = len(g.tickets)
        _live_ticket(g, sale, people, kind, g.rng.choice(TICKET_SOURCES))
        used += len(g.tickets) - before


# ---------------------------------------------------------------------------------------------
# People and accounts


def _security_answers(user_id: int) -> list[dict]:
    return [
        {"user_id": user_id, "position": 1, "question_key": "first_pet",
         "answer_hash": hashing.hash_secret(hashing.normalise_answer("Rex")), "hint": "A dog, three letters"},
        {"user_id": user_id, "position": 2, "question_key": "birth_city",
         "answer_hash": hashing.hash_secret(hashing.normalise_answer("Springfield")), "hint": "The Simpsons' town"},
    ]


DEMO_CLERKS = [
    # email, first, last, description, perms, accounts (None = all), api_only
    ("tickets@demo.test", "Tina", "Tickets", "Support clerk", {"orders_tickets"}, ["ketovital", "mindshift"], False),
    ("search@demo.test", "Sam", "Search", "Senior support clerk", {"orders_tickets", "search_orders"}, None, False),
    ("supervisor@demo.test", "Sue", "Visor", "Support supervisor",
     {"orders_tickets", "search_orders", "manage_users"}, None, False),
    ("refunds@demo.test", "Rafael", "Refunds", "Returns & refunds (refund authority)",
     {"orders_tickets", "search_orders", "refund_authority"}, None, False),
    ("api@demo.test", "Api", "Writer", "Helpdesk integration", {"api_read", "api_write"}, None, True),
    ("apiread@demo.test", "Api", "Reader", "Reporting integration", {"api_read"}, None, True),
]


def is_loaded() -> bool:
    return db.session.scalar(select(func.count(User.id))) > 0


def generate(size: str = "demo", *, seed: int = 20261122, now: datetime | None = None,
             progress=lambda msg: None) -> dict:
    """Fill an empty database. Returns the demo logins (emails, API keys)."""
    spec = SIZES[size]
    rng = random.Random(seed)
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    g = Gen(rng=rng, now=now, size=spec)
    for table, model in (("transactions", Transaction), ("line_items", LineItem), ("subscriptions", Subscription),
                         ("tickets", Ticket), ("ticket_events", TicketEvent)):
        g.ids[table] = _max_id(model)
    password_hash = hashing.hash_secret(DEMO_PASSWORD)
    created = now - timedelta(days=spec.days + 5)

    master = MasterAccount(created_at=created)
    db.session.add(master)
    db.session.flush()
    owner = User(master_account_id=master.id, role="owner", email=OWNER_EMAIL, first_name="Olivia",
                 last_name="Owner", description="Business owner", timezone="America/New_York",
                 password_hash=password_hash, password_changed_at=created,
                 pin_hash=hashing.hash_secret(pepper(DEMO_PIN)), confirmed_at=created, created_at=created)
    db.session.add(owner)
    db.session.flush()
    db.session.execute(insert(SecurityAnswer), _security_answers(owner.id))

    # Accounts and products.
    accounts = []
    if size == "demo":
        specs = DEMO_ACCOUNTS
    else:
        specs = [(f"vendor{i:03d}", rng.choice(ZONES), PALETTE[i % len(PALETTE)],
                  "EUR" if rng.random() < 0.15 else "USD") for i in range(1, spec.accounts + 1)]
    for nickname, tz, colour, currency in specs:
        acct = LinkedAccount(master_account_id=master.id, nickname=nickname, source="sandbox", status="linked",
                             timezone=tz, account_email=f"{nickname}@vendors.demo.test",
                             cs_email=f"support@{nickname}.demo.test", colour=colour,
                             credentials_enc=encrypt('{"password": "sandbox"}'), created_at=created,
                             linked_at=created)
        db.session.add(acct)
        db.session.flush()
        names = PRODUCT_NAMES.get(nickname) or [
            (f"{nickname[:3].upper()}-P{n}", f"{nickname.title()} Product {n}", n >= 2, rng.choice([1900, 2900, 3700, 4700]))
            for n in range(4)]
        products = []
        for sku, title, recurring, price in names:
            product = Product(linked_account_id=acct.id, sku=sku, title=title, recurring=recurring,
                              price_cents=price, currency=currency, rebill_cents=price if recurring else None,
                              rebill_days=30 if recurring else None,
                              download_url=f"https://downloads.example.com/{sku.lower()}")
            db.session.add(product)
            products.append(product)
        db.session.flush()
        locales = ["de", "de", "en"] if tz == "Europe/Berlin" else (["es", "en", "en"] if tz == "Europe/Madrid"
                                                                     else ["en", "en", "en", "es", "de"])
        accounts.append({
            "id": acct.id, "nickname": nickname, "zone": ZoneInfo(tz), "currency": currency, "locales": locales,
            "products": [{"id": p.id, "sku": p.sku, "title": p.title, "recurring": p.recurring,
                          "price_cents": p.price_cents, "rebill_cents": p.rebill_cents or 0,
                          "rebill_days": p.rebill_days or 30} for p in products],
        })
    by_nick = {a["nickname"]: a["id"] for a in accounts}

    # Clerks.
    staff = [Person(ActorKind.OWNER, owner.id, owner.full_name, None, True)]
    api_person = Person(ActorKind.API, None, "API")
    clerk_rows = []
    if size == "demo":
        for email, first, last, desc, perms, nicks, api_only in DEMO_CLERKS:
            clerk_rows.append((email, first, last, desc, perms,
                               None if nicks is None else [by_nick[n] for n in nicks], api_only))
    else:
        for i in range(spec.clerks):
            perms = {"orders_tickets"} | ({"search_orders"} if rng.random() < 0.5 else set())
            if rng.random() < 0.1:
                perms.add("manage_users")
            if rng.random() < 0.1:
                perms.add("refund_authority")
            nicks = None if rng.random() < 0.3 else rng.sample(list(by_nick.values()), k=min(5, len(by_nick)))
            clerk_rows.append((f"clerk{i:03d}@bench.test", rng.choice(FIRST["en"]), rng.choice(LAST["en"]),
                               "Support clerk", perms, nicks, False))
    for email, first, last, desc, perms, account_ids, api_only in clerk_rows:
        user = User(master_account_id=master.id, role="clerk", email=email, first_name=first, last_name=last,
                    description=desc, is_api_only=api_only, password_hash=None if api_only else password_hash,
                    password_changed_at=None if api_only else created, confirmed_at=created,
                    created_at=created, created_by_id=owner.id,
                    **{f"perm_{p}": True for p in perms})
        db.session.add(user)
        db.session.flush()
        granted = list(by_nick.values()) if account_ids is None else account_ids
        db.session.execute(insert(ClerkAccountAccess),
                           [{"user_id": user.id, "linked_account_id": a} for a in granted])
        if api_only:
            if "api_write" in perms:
                api_person = Person(ActorKind.API, user.id, f"{user.full_name} (API)", None, False)
        else:
            staff.append(Person(ActorKind.CLERK, user.id, user.full_name, None if account_ids is None
                                else frozenset(account_ids), "refund_authority" in perms))
    people = {"staff": staff, "owner": staff[0], "api": api_person}

    # Transactions and tickets.
    progress("transactions")
    per_account = max(1, spec.sales // len(accounts))
    all_sales = []
    for account in accounts:
        all_sales.extend(_make_sales(g, account, per_account))
    progress("tickets")
    _make_tickets(g, all_sales, people, spec.tickets)

    progress("writing")
    # The report tables are computed once from the whole load instead of batch by batch.
    with report_tables.paused():
        _bulk(Transaction, [_clean(r) for r in g.txns])
        _bulk(LineItem, g.items)
        _bulk(Subscription, g.subs)
        _bulk(Ticket, g.tickets)
        _bulk(TicketEvent, g.events)
        _bulk(DailySales, [{"linked_account_id": a, "day": d, "currency": c, **{
            k: v for k, v in totals.items()}} for (a, d, c), totals in g.daily.items()])
    _fix_sequences()
    progress("report tables")
    report_tables.rebuild(db.session.connection())
    db.session.commit()
    _analyze()
    return {"owner": OWNER_EMAIL, "accounts": len(accounts), "transactions": len(g.txns),
            "tickets": len(g.tickets), "events": len(g.events)}


def _clean(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _bulk(model, rows: list[dict], chunk: int = 5000) -> None:
    """Insert many rows fast. On SQLite the driver's executemany gets values already formatted
    the way SQLAlchemy stores them (so comparisons in later queries match); elsewhere SQLAlchemy
    core's executemany does the conversions."""
    table = model.__table__
    columns = list(table.columns)
    defaults = {c.name: c.default.arg for c in columns
                if c.default is not None and not callable(c.default.arg)}
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        names = [c.name for c in columns]
        converters = [_sqlite_converter(c) for c in columns]
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        for start in range(0, len(rows), chunk):
            conn.exec_driver_sql(sql, [
                tuple(convert(row.get(name, defaults.get(name))) for name, convert in zip(names, converters))
                for row in rows[start:start + chunk]
            ])
        return
    names = {c.name for c in columns}
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), [{**defaults, **{k: v for k, v in r.items() if k in names}}
                                     for r in rows[start:start + chunk]])


def _sqlite_converter(column):
    from sqlalchemy import JSON, Boolean, Date

    from portal.types import UTCDateTime

    if isinstance(column.type, UTCDateTime):
        return lambda v: None if v is None else v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(column.type, Date):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(column.type, JSON):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(column.type, Boolean):
        return lambda v: None if v is None else int(bool(v))
    return lambda v: v


def _analyze() -> None:
    """Planner statistics for the freshly loaded tables: without them SQLite may scan an account's
    whole history where an index would do (measured ~75 ms vs ~1 ms on the L set)."""
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def _fix_sequences() -> None:
    """After inserting explicit ids, PostgreSQL's sequences must move past them."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in ("transactions", "line_items", "subscriptions", "tickets", "ticket_events"):
        db.session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"))
