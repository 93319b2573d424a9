"""Forms of the Users tab. Permission and account choices are checked against the policy again
in the services; these forms only parse and validate the shape of the input."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.auth.stepup import StepUpForm, label_for
from portal.authz.permissions import PERM_LABELS, Perm
from portal.web.validators import EmailAddress

PERM_CHOICES = [SelectChoice(p.value, PERM_LABELS[p]) for p in Perm]


class CheckboxesField(SelectMultipleField):
    """Several checkboxes with one name; rendered by the template, validated against choices
    (a tampered value is a field error, never silently stored)."""


class _StepUp(StepUpForm):
    """Step-up form that asks for the PIN/password when it is missing instead of counting an
    empty box as a wrong entry."""

    def validate_stepup(self, field):
        if self.stepup_needed and not (field.data or "").strip():
            from flask_login import current_user

            word = label_for(current_user)
            raise ValidationError(f"Please enter your {word} to confirm this change.")
        super().validate_stepup(field)


def _account_choices(accounts) -> list[tuple[int, str]]:
    return [SelectChoice(a.id, a.nickname) for a in accounts]


class UserForm(_StepUp):
    """Create a user."""

    api_only = BooleanField("API only")
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    first_name = StringField("First name", validators=[DataRequired(), Length(max=80)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=80)])
    description = StringField("Description (role)", validators=[Optional(), Length(max=200)])
    perms = CheckboxesField("Permissions", choices=PERM_CHOICES)
    accounts = CheckboxesField("Accounts", coerce=int, choices=[])

    def __init__(self, *args, accounts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.accounts.choices = _account_choices(accounts)
        self.description.render_kw = {"placeholder": "e.g. Support clerk, Supervisor"}


class PermissionsForm(_StepUp):
    """Change a user's permissions and linked accounts."""

    perms = CheckboxesField("Permissions", choices=PERM_CHOICES)
    accounts = CheckboxesField("Accounts", coerce=int, choices=[])

    def __init__(self, *args, accounts=(), **kwargs):
        kwargs.setdefault("prefix", "perm")
        super().__init__(*args, **kwargs)
        self.accounts.choices = _account_choices(accounts)


class DetailsForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), Length(max=80)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=80)])
    description = StringField("Description (role)", validators=[Optional(), Length(max=200)])


class DeleteForm(_StepUp):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "delete")
        super().__init__(*args, **kwargs)


class TwoFactorResetForm(_StepUp):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "tfr")
        super().__init__(*args, **kwargs)


class KeyForm(_StepUp):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "key")
        super().__init__(*args, **kwargs)


STATUS_CHOICES = [
    SelectChoice("", "Any status"),
    SelectChoice("active", "Enabled"),
    SelectChoice("invited", "Invitation pending"),
    SelectChoice("disabled", "Disabled"),
    SelectChoice("api_only", "API only"),
]


class FilterForm(FlaskForm):
    """The list's filters (GET; no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Search", validators=[Optional(), Length(max=100)])
    perm = SelectField("Permission", choices=[SelectChoice("", "Any permission")] + PERM_CHOICES,
                       validators=[Optional()])
    status = SelectField("Status", choices=STATUS_CHOICES, validators=[Optional()])
