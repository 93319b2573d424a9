"""The only list of permissions and actions. Clerks hold permissions; the owner holds them all."""
from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    """Permissions a clerk can be granted (DOMAIN.md §11, plus Refund authority from seed 001)."""

    ORDERS_TICKETS = "orders_tickets"
    SEARCH_ORDERS = "search_orders"
    API_READ = "api_read"
    API_WRITE = "api_write"
    MANAGE_USERS = "manage_users"
    REFUND_AUTHORITY = "refund_authority"

    @property
    def label(self) -> str:
        return PERM_LABELS[self]


PERM_LABELS = {
    Perm.ORDERS_TICKETS: "Orders/Tickets",
    Perm.SEARCH_ORDERS: "Search Orders",
    Perm.API_READ: "API Read",
    Perm.API_WRITE: "API Read/Write",
    Perm.MANAGE_USERS: "Manage Users",
    Perm.REFUND_AUTHORITY: "Refund authority",
}

PERM_HELP = {
    Perm.ORDERS_TICKETS: "Sees and works support tickets, and only the transactions tied to them.",
    Perm.SEARCH_ORDERS: "May search and work any transaction of the accounts they can see.",
    Perm.API_READ: "May read tickets and transactions through the API.",
    Perm.API_WRITE: "May read and change tickets through the API.",
    Perm.MANAGE_USERS: "May create users, grant permissions they hold, and read the Reports tab.",
    Perm.REFUND_AUTHORITY: "May let refunds and cancellations go through and processes refund "
    "escalations.",
}


class Action(StrEnum):
    """What an actor may try to do. ``policy.can`` decides each one."""

    TAB_DASHBOARD = "tab.dashboard"
    TAB_ACCOUNTS = "tab.accounts"
    TAB_TICKETS = "tab.tickets"
    TAB_TRANSACTIONS = "tab.transactions"  # Search Orders (Orders/Tickets alone: via Tickets)
    TAB_REPORTS = "tab.reports"
    TAB_USERS = "tab.users"

    ACCOUNT_VIEW = "account.view"  # see a linked account's data (tickets, transactions)
    ACCOUNT_MANAGE = "account.manage"  # link, unlink, settings, secrets: owner only

    TICKET_VIEW = "ticket.view"
    TICKET_WORK = "ticket.work"  # comment, change type, close, reopen, escalate, change email
    TICKET_REFUND = "ticket.refund"  # open/allow refunds and cancellations, process escalations

    TRANSACTION_VIEW = "transaction.view"
    TRANSACTION_SEARCH = "transaction.search"  # the transaction search (results scoped)
    TRANSACTION_SEARCH_ALL = "transaction.search_all"  # every transaction, not only ticket-tied
    SUBSCRIPTION_MANAGE = "subscription.manage"

    REPORTS_VIEW = "reports.view"
    USERS_MANAGE = "users.manage"
    USER_EDIT = "user.edit"  # obj: the user being edited (a policy.UserSubject)
    USER_API_KEY = "user.api_key"  # create/regenerate obj's API key: USER_EDIT, or the owner's own

    API_READ = "api.read"
    API_WRITE = "api.write"

    SECURITY_SETTINGS = "security.settings"  # one's own password, PIN, 2FA, sessions


TABS = (
    (Action.TAB_DASHBOARD, "Dashboard", "dashboard.index"),
    (Action.TAB_ACCOUNTS, "Accounts", "accounts.index"),
    (Action.TAB_TICKETS, "Tickets", "tickets.index"),
    (Action.TAB_TRANSACTIONS, "Transactions", "transactions.index"),
    (Action.TAB_REPORTS, "Reports", "reports.index"),
    (Action.TAB_USERS, "Users", "users.index"),
)
