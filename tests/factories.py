"""Plain factory functions with sensible defaults (CTFd's gen_*, Indico's create_user)."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from portal.accounts.models import ClerkAccountAccess, LinkedAccount, MasterAccount
from portal.auth import hashing
from portal.auth.models import User
from portal.crypto import pepper
from portal.extensions import db
from portal.tickets import services as ticket_services
from portal.tickets.lifecycle import TicketType
from portal.transactions import services as txn_services
from portal.transactions.models import Product, Subscription, Transaction

PASSWORD = "Tr1cky!!Pass#99"
PIN = "2468"
_counter = itertools.count(1)
_hashes: dict[str, str] = {}


def _hash(secret: str) -> str:
    if secret not in _hashes:
        _hashes[secret] = hashing.hash_secret(secret)
    return _hashes[secret]


def _n() -> int:
    return next(_counter)


T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


class Factory:
    def master(self) -> MasterAccount:
        master = MasterAccount(created_at=T0)
        db.session.add(master)
        db.session.flush()
        return master

    def owner(self, master: MasterAccount | None = None, email: str | None = None, **kw) -> User:
        master = master or self.master()
        user = User(
            master_account_id=master.id, role="owner", email=email or f"owner{_n()}@example.test",
            first_name=kw.pop("first_name", "Olivia"), last_name=kw.pop("last_name", "Owner"),
            password_hash=_hash(PASSWORD), pin_hash=_hash(pepper(PIN)), confirmed_at=T0,
            created_at=T0, **kw,
        )
        db.session.add(user)
        db.session.commit()
        return user

    def account(self, owner_or_master, nickname: str | None = None, *, timezone_name="America/New_York",
                source="sandbox", status="linked", **kw) -> LinkedAccount:
        master_id = getattr(owner_or_master, "master_account_id", None) or owner_or_master.id
        nickname = nickname or f"acct{_n()}"
        account = LinkedAccount(
            master_account_id=master_id, nickname=nickname, source=source, status=status,
            timezone=timezone_name, account_email=f"{nickname}@vendor.test", created_at=T0,
            linked_at=T0 if status == "linked" else None, **kw,
        )
        db.session.add(account)
        db.session.commit()
        return account

    def clerk(self, owner: User, *, perms=("orders_tickets",), accounts=(), email=None,
              api_only=False, enabled=True, **kw) -> User:
        user = User(
            master_account_id=owner.master_account_id, role="clerk",
            email=email or f"clerk{_n()}@example.test", first_name=kw.pop("first_name", "Casey"),
            last_name=kw.pop("last_name", f"Clerk{_n()}"), is_api_only=api_only, is_enabled=enabled,
            password_hash=kw.pop("password_hash", None if api_only else _hash(PASSWORD)),
            confirmed_at=kw.pop("confirmed_at", T0), created_at=T0,
            **{f"perm_{p}": True for p in perms}, **kw,
        )
        db.session.add(user)
        db.session.flush()
        for account in accounts:
            db.session.add(ClerkAccountAccess(user_id=user.id, linked_account_id=account.id))
        db.session.commit()
        return user

    def product(self, account: LinkedAccount, *, recurring=False, price_cents=4700, sku=None,
                currency="USD") -> Product:
        product = Product(
            linked_account_id=account.id, sku=sku or f"SKU{_n()}", title="Test Product",
            recurring=recurring, price_cents=price_cents, currency=currency,
            rebill_cents=price_cents if recurring else None, rebill_days=30 if recurring else None,
        )
        db.session.add(product)
        db.session.commit()
        return product

    def sale(self, account: LinkedAccount, *, at: datetime = T0, recurring=False, amount_cents=4700,
             currency="USD", email=None, receipt=None, product=None, txn_type="SALE", locale="en",
             affiliate=None) -> Transaction:
        product = product or self.product(account, recurring=recurring, price_cents=amount_cents,
                                          currency=currency)
        receipt = receipt or f"R{_n():07d}"
        txn = Transaction(
            receipt=receipt, sale_receipt=receipt, txn_type=txn_type, occurred_at=at,
            amount_cents=amount_cents, currency=currency, customer_first_name="Chris",
            customer_last_name="Customer", customer_email=email or f"buyer{_n()}@example.com",
            product_id=product.id, sku=product.sku, product_title=product.title,
            recurring=product.recurring, locale=locale, affiliate=affiliate, payment_method="VISA",
        )
        txn_services.record(txn, account)
        if product.recurring:
            sub = Subscription(
                linked_account_id=account.id, product_id=product.id, sale_transaction_id=txn.id,
                rebill_cents=product.rebill_cents, currency=currency, started_at=at,
                next_bill_at=at + timedelta(days=30),
            )
            db.session.add(sub)
            db.session.flush()
            txn.subscription_id = sub.id
        db.session.commit()
        return txn

    def rebill(self, sale: Transaction, *, at: datetime, n: int = 1) -> Transaction:
        txn = Transaction(
            receipt=f"{sale.receipt}-{n}", sale_receipt=sale.receipt, txn_type="BILL", occurred_at=at,
            amount_cents=sale.amount_cents, currency=sale.currency,
            customer_first_name=sale.customer_first_name, customer_last_name=sale.customer_last_name,
            customer_email=sale.customer_email, product_id=sale.product_id, sku=sale.sku,
            product_title=sale.product_title, recurring=True, subscription_id=sale.subscription_id,
        )
        txn_services.record(txn, sale.linked_account)
        db.session.commit()
        return txn

    def ticket(self, sale: Transaction, *, ticket_type="tech_support", actor=None, now: datetime | None = None,
               comment="Please help me with this order.", locale="en"):
        actor = actor or ticket_services.Actor.customer(sale)
        return ticket_services.open_ticket(
            actor, sale, TicketType(ticket_type), comment=comment,
            now=now or sale.occurred_at + timedelta(days=1), locale=locale,
        )
