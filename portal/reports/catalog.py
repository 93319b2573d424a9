"""The reports the tab offers: names, what they count, how their columns are labelled."""
from __future__ import annotations

from dataclasses import dataclass, field

from portal.reports.metrics import CLOSING, MODIFYING, NON_USER_ACTORS, TICKET_TYPES

TYPE_LABELS = {"tech_support": "Tech support", "refund": "Refund", "cancel": "Cancellation"}
TYPE_COLOURS = {"tech_support": "#4f46e5", "refund": "#ef4444", "cancel": "#f59e0b"}

TYPE_CHANGES = [f"tc:{a}>{b}" for a in TICKET_TYPES for b in TICKET_TYPES if a != b]
MODIFICATION_METRICS = TYPE_CHANGES + sorted(MODIFYING - {"type_changed"})

CATEGORIES = [
    ("ts_refund", "Tech support → refund", "#ef4444"),
    ("refund_ts", "Refund → tech support", "#10b981"),
    ("ts_cancel", "Tech support → cancellation", "#f59e0b"),
    ("cancel_ts", "Cancellation → tech support", "#14b8a6"),
    ("reopened", "Reopened", "#8b5cf6"),
    ("other", "Other changes", "#64748b"),
]
CATEGORY_OF = {
    "tc:tech_support>refund": "ts_refund",
    "tc:refund>tech_support": "refund_ts",
    "tc:tech_support>cancel": "ts_cancel",
    "tc:cancel>tech_support": "cancel_ts",
    "reopened": "reopened",
}
OTHER_CHANGES_HELP = (
    "Other changes: refund ↔ cancellation, escalation, a changed customer email, return label "
    "sent / in transit / received, hand-off to the refund authority, refund approved."
)


def category(metric: str) -> str:
    return CATEGORY_OF.get(metric, "other")


def metrics_of_category(key: str) -> list[str]:
    if key == "other":
        return [m for m in MODIFICATION_METRICS if m not in CATEGORY_OF]
    return [m for m, c in CATEGORY_OF.items() if c == key]


ACTOR_LABELS = {
    "customer": "Customers",
    "phone": "ClickBank phone support",
    "vendor_link": "Vendor (email link)",
    "system": "System (timers)",
    "api": "API (no user)",
}

METRIC_LABELS = {
    "opened": "Opened",
    "closed": "Closed",
    "auto_closed": "Closed automatically (inactive)",
    "finalized": "Closed after the refund completed",
    "commented": "Replied",
    "reopened": "Reopened",
    "escalated": "Escalated",
    "email_changed": "Changed the customer's email",
    "return_label_sent": "Return label sent",
    "return_in_transit": "Return in transit",
    "return_received": "Return received",
    "handoff": "Handed to the refund authority",
    "refund_approved": "Refund approved",
    "touch": "Worked on the ticket",
    "first_reply": "First reply",
    "reply:lt1h": "First reply within 1 hour",
    "reply:1to24h": "First reply within 1–24 hours",
    "reply:gt24h": "First reply after 24 hours",
    "saved": "Saved the sale",
    "save_lost": "Save taken back (refunded after all, or saved again later)",
}


def metric_label(metric: str) -> str:
    if metric.startswith("tc:"):
        a, _, b = metric[3:].partition(">")
        return f"Type changed: {TYPE_LABELS.get(a, a)} → {TYPE_LABELS.get(b, b)}"
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    summary: str
    icon: str
    kind: str  # daily | actor | touch | comments | response | affiliates
    metrics: tuple[str, ...] = ()
    group: str = "type"  # type | category
    clerk_filter: bool = True
    vendor_side_only: bool = False
    help: str = ""
    extra: dict = field(default_factory=dict)


REPORTS: list[Report] = [
    Report("creation", "Ticket creation", "Tickets opened per day, by type — all accounts and per account.",
           "bi-plus-circle", "daily", ("opened",), "type", clerk_filter=False,
           help="Every ticket opened, whoever opened it: customers, ClickBank phone support, "
                "clerks, the owner, the API."),
    Report("modifications", "Ticket modification",
           "Type changes, reopened tickets and other changes per day — all accounts and per account.",
           "bi-arrow-left-right", "daily", tuple(MODIFICATION_METRICS), "category", clerk_filter=False,
           help=OTHER_CHANGES_HELP + " Changes by customers (through their email links) count too."),
    Report("closed", "Tickets closed by clerk", "Who closed tickets, and of which type.",
           "bi-check2-circle", "actor", tuple(sorted(CLOSING)), "type",
           help="Closed by a person, closed automatically after inactivity, or closed by the "
                "system once a refund or cancellation was completed (System)."),
    Report("opened", "Tickets opened by clerk", "Who opened tickets, and of which type.",
           "bi-folder-plus", "actor", ("opened",), "type",
           help="Tickets opened by clerks and the owner, and for comparison by customers, "
                "ClickBank phone support and the API."),
    Report("clerk-types", "Clerk tickets by type", "How many tickets of each type each clerk worked on.",
           "bi-person-lines-fill", "touch", ("touch",), "type", vendor_side_only=True,
           help="A ticket counts once per clerk: on the day of the clerk's first action on it in "
                "the period, under the type it had after that action. The total and the chart count "
                "each ticket once, whoever worked on it: on the day of the first action on it in the "
                "period, under the type it had after that action."),
    Report("clerk-modifications", "Ticket modifications by clerk",
           "Type changes, reopenings and other changes, by who made them.",
           "bi-pencil-square", "actor", tuple(MODIFICATION_METRICS), "category", help=OTHER_CHANGES_HELP),
    Report("comments", "Clerk comments", "The comments clerks wrote on tickets, newest first.",
           "bi-chat-left-text", "comments", ("touch",), vendor_side_only=True,
           help="Every action on a ticket carries a comment: replies, type changes, closing, "
                "reopening. Comments of the owner and of API users are included."),
    Report("response-times", "Clerk response times",
           "Time to the first reply, time to close, and refund requests saved.",
           "bi-stopwatch", "response", help=(
               "First reply: the first action of the vendor side on a ticket a customer opened, "
               "timed from the opening. Time to close: from the ticket's last opening or "
               "reopening. Saved: refund or cancellation requests that ended without a refund, "
               "withdrawn (closed before processing) or changed to tech support. Each save is "
               "credited to whoever closed or changed the ticket (a customer withdrawing their "
               "own request counts under Customers) on the day they did it. A save is taken back "
               "if the ticket is refunded or cancelled after all, and only a ticket's last save "
               "counts, so each ticket counts once.")),
    Report("affiliates", "Affiliate performance",
           "Orders, average order size, subscription length, refund and cancellation rates per affiliate.",
           "bi-people", "affiliates", clerk_filter=False, help=(
               "Orders placed in the period (by the sale date), and what became of them since: "
               "refunded, charged back, subscriptions cancelled. Subscription length is the "
               "average number of payments so far; recent orders have had less time to renew.")),
]
BY_SLUG = {r.slug: r for r in REPORTS}

SERIES_PALETTE = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6",
                  "#f97316", "#ec4899", "#84cc16"]
OTHERS_COLOUR = "#cbd5e1"
TOP_ACTORS = 8

__all__ = ["REPORTS", "BY_SLUG", "Report", "NON_USER_ACTORS", "TICKET_TYPES"]
