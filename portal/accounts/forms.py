"""Forms of the Accounts tab. Sensitive ones inherit the step-up re-check (``StepUpForm``)."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from portal.accounts import services
from portal.accounts.models import AccountSource
from portal.auth.stepup import StepUpForm
from portal.web.validators import EmailAddress

SOURCE_CHOICES = [
    SelectChoice(AccountSource.SANDBOX.value, "Sandbox"),
    SelectChoice(AccountSource.CLICKBANK.value, "ClickBank"),
]


def _zone_choices() -> list[SelectChoice]:
    """Every IANA zone, grouped by region (America, Europe, …) for a findable list."""
    return [
        SelectChoice(
            z,
            z.split("/", 1)[-1].replace("_", " ") if "/" in z else z,
            optgroup=z.split("/", 1)[0] if "/" in z else "Other",
        )
        for z in services.timezones()
    ]


class AddAccountForm(StepUpForm):
    nickname = StringField(
        "Account nickname",
        validators=[DataRequired("Enter the account's nickname."), Length(max=32)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
    )
    source = RadioField(
        "Where its data comes from", choices=SOURCE_CHOICES, default=AccountSource.SANDBOX.value
    )
    account_email = EmailField(
        "Email address of the account",
        validators=[
            DataRequired("Enter the email address of the account."),
            Length(max=254),
            EmailAddress(),
        ],
    )
    password = PasswordField(
        "Account password",
        validators=[
            DataRequired("Enter the account's password."),
            Length(min=6, max=128, message="At least 6 and at most 128 characters."),
        ],
        render_kw={"autocomplete": "off"},
    )
    timezone = SelectField("Time zone of the account", validators=[DataRequired()])
    colour = StringField(
        "Colour", validators=[Optional(), Regexp(r"^#[0-9a-fA-F]{6}$", message="Pick a colour.")]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = _zone_choices()

    @property
    def clickbank_enabled(self) -> bool:
        return bool(current_app.config.get("CLICKBANK_ENABLED"))

    def validate_nickname(self, field):
        field.data = services.normalise_nickname(field.data)
        if problem := services.nickname_problem(field.data):
            raise ValidationError(problem)

    def validate_source(self, field):
        if field.data == AccountSource.CLICKBANK and not self.clickbank_enabled:
            raise ValidationError(
                "Linking live ClickBank accounts is not available yet: choose Sandbox for now."
            )


class SettingsForm(FlaskForm):
    timezone = SelectField("Time zone", validators=[DataRequired()])
    cs_email = EmailField(
        "Customer-service email",
        validators=[Optional(), Length(max=254), EmailAddress()],
    )
    colour = StringField(
        "Colour",
        validators=[DataRequired(), Regexp(r"^#[0-9a-fA-F]{6}$", message="Pick a colour.")],
    )
    customer_refund_days = IntegerField(
        "Customer refund window (days)",
        validators=[
            InputRequired("Enter a number of days."),
            NumberRange(1, 365, "Between 1 and 365 days."),
        ],
    )
    vendor_refund_days = IntegerField(
        "Vendor refund window (days)",
        validators=[
            InputRequired("Enter a number of days."),
            NumberRange(1, 365, "Between 1 and 365 days."),
        ],
    )
    settle_hours = IntegerField(
        "Refunds complete after (hours)",
        validators=[
            InputRequired("Enter a number of hours."),
            NumberRange(0, 168, "Between 0 and 168 hours."),
        ],
    )
    include_test_transactions = BooleanField("Include test transactions")
    capture_abandoned_orders = BooleanField("Capture abandoned orders")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = _zone_choices()

    def validate_colour(self, field):
        field.data = (field.data or "").lower()

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in services.SETTING_FIELDS}


class InsSecretForm(StepUpForm):
    secret = StringField(
        "New secret key",
        validators=[Optional(), Length(max=16, message="At most 16 characters.")],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )
    generate = BooleanField("Generate a strong key for me")
    clear = HiddenField()

    def validate_secret(self, field):
        value = (field.data or "").strip().upper()
        field.data = value
        if value and not services.INS_SECRET_RE.match(value):
            raise ValidationError("Use capital letters and digits only (up to 16).")
        if not value and not self.generate.data and self.clear.data != "1":
            raise ValidationError("Enter a key, or tick “Generate a strong key for me”.")


class RevealForm(StepUpForm):
    """Only the re-check: showing the INS secret key in clear."""


class CredentialsForm(StepUpForm):
    password = PasswordField(
        "New account password",
        validators=[
            DataRequired("Enter the account's new password."),
            Length(min=6, max=128, message="At least 6 and at most 128 characters."),
        ],
        render_kw={"autocomplete": "off"},
    )


class RemoveForm(StepUpForm):
    confirm_nickname = StringField(
        "Type the nickname to confirm",
        validators=[DataRequired("Type the account's nickname to confirm.")],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
    )

    def __init__(self, *args, nickname: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._nickname = nickname

    def validate_confirm_nickname(self, field):
        if services.normalise_nickname(field.data) != self._nickname:
            raise ValidationError(f"Type “{self._nickname}” exactly to confirm.")


class ConfirmLinkForm(FlaskForm):
    """The public confirmation page: the token travels in the form, not in the URL."""

    token = HiddenField(validators=[DataRequired(), Length(max=200)])
    decision = HiddenField(validators=[DataRequired()])
