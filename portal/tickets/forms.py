"""Forms of the Tickets tab: the queue's filters (GET, in the URL) and the one action form every
ticket action posts (comment, version, and the fields some actions add)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Form,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.tickets import queries
from portal.tickets.lifecycle import Refused, TicketType, check_comment
from portal.web.validators import EmailAddress


def _choices(*pairs) -> list[SelectChoice]:
    return [SelectChoice(value, text) for value, text in pairs]


TYPE_CHOICES = _choices(
    ("", "Any type"),
    ("tech_support", "Tech support"),
    ("refund", "Refund"),
    ("cancel", "Cancellation"),
)
PRODUCT_CHOICES = _choices(("", "Both"), ("standard", "Standard"), ("recurring", "Recurring"))
STATUS_CHOICES = _choices(("open", "Open"), ("reopened", "Reopened"), ("closed", "Closed"))
SORT_CHOICES = _choices(("", "Default order"), *queries.SORT_LABELS.items())


class QueueFilterForm(Form):
    """The queue's filters. Read from the query string, so a filtered queue is a bookmark."""

    q = StringField("Search", validators=[Optional(), Length(max=queries.MAX_QUERY)])
    type = SelectField("Ticket type", choices=TYPE_CHOICES, default="")
    product = SelectField("Product type", choices=PRODUCT_CHOICES, default="")
    status = SelectMultipleField(
        "Status",
        choices=STATUS_CHOICES,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    vendor = SelectField("Vendor", choices=_choices(("", "All accounts")), default="")
    sort = SelectField("Order", choices=SORT_CHOICES, default="")
    f = HiddenField(
        default="1"
    )  # present when the form itself was sent: no box ticked = any status


def queue_filter(
    args, accounts, *, fixed_account=None
) -> tuple[QueueFilterForm, queries.QueueFilter]:
    """The filter form bound to ``args`` and the :class:`QueueFilter` it means. Values that are
    not on offer are reported on their field and ignored (an unknown vendor matches nothing)."""
    form = QueueFilterForm(args)
    form.vendor.choices = _choices(
        ("", "All accounts"), *((a.nickname, a.nickname) for a in accounts)
    )
    form.validate()
    if "status" not in args and "f" not in args:
        form.status.data = list(queries.DEFAULT_STATUSES)
        form.status.errors = []
    statuses = tuple(c.value for c in STATUS_CHOICES if c.value in (form.status.data or []))
    if form.status.errors:
        statuses = queries.DEFAULT_STATUSES
        form.status.data = list(statuses)
    account_id = None
    if fixed_account is not None:
        account_id = fixed_account.id
        form.vendor.data = fixed_account.nickname
        form.vendor.errors = []
    elif form.vendor.data:
        match = queries.account_by_nickname(accounts, form.vendor.data)
        if match is None:
            form.vendor.errors = ["None of your accounts has this nickname."]
            account_id = -1
        else:
            account_id = match.id
            form.vendor.data = match.nickname
            form.vendor.errors = []
    filt = queries.QueueFilter(
        q=(form.q.data or "").strip()[: queries.MAX_QUERY],
        ticket_type=form.type.data if not form.type.errors and form.type.data else None,
        product=form.product.data if not form.product.errors and form.product.data else None,
        statuses=statuses or queries.ALL_STATUSES,
        account_id=account_id,
        sort=form.sort.data if not form.sort.errors and form.sort.data else None,
    )
    return form, filt


class MinimumComment:
    """The lifecycle's comment rule (at least 6 characters), as a field validator."""

    def __call__(self, form, field):
        try:
            field.data = check_comment(field.data)
        except Refused as refused:
            raise ValidationError(refused.message) from None


class ActionForm(FlaskForm):
    """Every ticket action posts this form: its comment, the version the user saw, and the
    fields the action needs. Other actions' fields are ignored."""

    comment = TextAreaField("Comment", validators=[MinimumComment()])
    version = HiddenField()
    customer_agreed = BooleanField("The customer agreed to this change")
    to_type = SelectField(
        "New type",
        choices=_choices(("", "Choose a type…"), *((t.value, t.value) for t in TicketType)),
        default="",
    )
    new_email = StringField(
        "New customer email", validators=[Optional(), Length(max=254), EmailAddress()]
    )
    ctx = HiddenField()  # "row": sent from the queue, answer with the queue row
