"""Imports every feature's models so Alembic and ``db.create_all`` see one metadata."""
from portal.accounts.models import ClerkAccountAccess, LinkedAccount, MasterAccount  # noqa: F401
from portal.api.models import IdempotencyKey  # noqa: F401
from portal.audit import AuditEvent  # noqa: F401
from portal.auth.models import (  # noqa: F401
    OneTimeToken,
    RecoveryCode,
    SecurityAnswer,
    User,
    UserSession,
)
from portal.clickbank.models import InboundNotification  # noqa: F401
from portal.leases import Lease  # noqa: F401
from portal.notifications.models import OutboxMessage  # noqa: F401
from portal.reports.models import (  # noqa: F401
    AffiliateDaily,
    ReportActorHourly,
    ReportDaily,
    ReportFact,
    ReportHourly,
)
from portal.tickets.models import Ticket, TicketEvent  # noqa: F401
from portal.transactions.models import (  # noqa: F401
    DailySales,
    LineItem,
    Product,
    Subscription,
    SubscriptionEvent,
    Transaction,
)
from portal.users.models import ApiKey  # noqa: F401
