"""Forms of the auth package. Rules live in pure modules (passwords, pins, questions); the forms
only carry fields and turn rule results into field errors."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from portal.auth import passwords, pins
from portal.auth.questions import QUESTIONS, Entry
from portal.auth.questions import problems as question_problems
from portal.auth.stepup import StepUpForm
from portal.web.validators import EmailAddress

try:  # WTForms >= 3.3 wants SelectChoice objects (tuples are deprecated there)
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def _choice(value: str, label: str, group: str | None = None):
    if SelectChoice is None:
        return (value, label)
    return SelectChoice(value, label, optgroup=group)


QUESTION_CHOICES = [_choice("", "Choose a question…")] + [_choice(k, v) for k, v in QUESTIONS.items()]
ZONES = frozenset(
    z for z in available_timezones()
    if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/", "Chile/"))
)
TIMEZONE_CHOICES = [_choice(z, z.split("/", 1)[1].replace("_", " "), z.split("/", 1)[0]) for z in sorted(ZONES)]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    remember = BooleanField("Keep me signed in on this device (30 days)")
    next = StringField()


class EmailForm(FlaskForm):
    """Forgot password / forgot PIN."""

    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)],
                       render_kw={"autocomplete": "email"})


class NewPasswordFields:
    """``new_password`` + ``confirm_password``, checked by the one policy function."""

    def check_password(self, *, email: str | None, names) -> list[passwords.Rule]:
        rules = passwords.check(
            self.new_password.data or "", email=email, names=names,
            confirm=self.confirm_password.data or "",
        )
        if not passwords.all_ok(rules):
            broken = [r for r in rules if not r.ok and r.key != "match"]
            if broken:
                self.new_password.errors = list(self.new_password.errors) + [
                    "The password does not meet every rule: "
                    + "; ".join(r.message[:1].lower() + r.message[1:] for r in broken)
                    + "."
                ]
            if any(r.key == "match" and not r.ok for r in rules) and self.confirm_password.data:
                self.confirm_password.errors = list(self.confirm_password.errors) + [
                    "The two entries are not the same."
                ]
            elif not self.confirm_password.data:
                self.confirm_password.errors = list(self.confirm_password.errors) + [
                    "Please type the password a second time."
                ]
        return rules


_NEW_PW_KW = {"autocomplete": "new-password", "spellcheck": "false", "autocapitalize": "off"}


class SetPasswordForm(FlaskForm, NewPasswordFields):
    new_password = PasswordField("New password", validators=[Length(max=1024)], render_kw=_NEW_PW_KW)
    confirm_password = PasswordField("Repeat the password", validators=[Length(max=1024)],
                                     render_kw=_NEW_PW_KW)


class ChangePasswordForm(FlaskForm, NewPasswordFields):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New password", validators=[Length(max=1024)], render_kw=_NEW_PW_KW)
    confirm_password = PasswordField("Repeat the new password", validators=[Length(max=1024)],
                                     render_kw=_NEW_PW_KW)


class AnswerForm(FlaskForm):
    answer = StringField("Your answer", validators=[DataRequired(), Length(max=200)],
                         render_kw={"autocomplete": "off", "spellcheck": "false"})


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text",
                                  "spellcheck": "false", "autocapitalize": "off"})


class PinFields:
    def check_pin(self) -> bool:
        ok = True
        for message in pins.problems(self.pin.data):
            self.pin.errors = list(self.pin.errors) + [message]
            ok = False
        if ok and (self.pin_confirm.data or "").strip() != (self.pin.data or "").strip():
            self.pin_confirm.errors = list(self.pin_confirm.errors) + ["The two PINs are not the same."]
            ok = False
        return ok


_PIN_KW = {"inputmode": "numeric", "autocomplete": "off", "maxlength": "6", "pattern": "[0-9]*"}


class NewPinForm(FlaskForm, PinFields):
    pin = PasswordField("New PIN (4–6 digits)", validators=[Length(max=20)], render_kw=_PIN_KW)
    pin_confirm = PasswordField("Repeat the PIN", validators=[Length(max=20)], render_kw=_PIN_KW)


class ChangePinForm(StepUpForm, PinFields):
    pin = PasswordField("New PIN (4–6 digits)", validators=[Length(max=20)], render_kw=_PIN_KW)
    pin_confirm = PasswordField("Repeat the new PIN", validators=[Length(max=20)], render_kw=_PIN_KW)


class QuestionFields:
    def entries(self) -> list[Entry]:
        return [
            Entry(self.question_1.data, self.answer_1.data, self.hint_1.data),
            Entry(self.question_2.data, self.answer_2.data, self.hint_2.data),
        ]

    def check_questions(self) -> bool:
        errors = question_problems(self.entries())
        for (index, part), message in errors.items():
            f = getattr(self, f"{part}_{index + 1}")
            f.errors = list(f.errors) + [message]
        return not errors


def _question_fields(cls):
    for n in (1, 2):
        setattr(cls, f"question_{n}", SelectField(f"Security question {n}", choices=QUESTION_CHOICES,
                                                  validate_choice=False))
        setattr(cls, f"answer_{n}", StringField("Answer", validators=[Length(max=200)],
                                                render_kw={"autocomplete": "off", "spellcheck": "false"}))
        setattr(cls, f"hint_{n}", StringField("Hint (shown to you when you recover your account)",
                                              validators=[Length(max=200)],
                                              render_kw={"autocomplete": "off"}))
    return cls


@_question_fields
class QuestionsForm(StepUpForm, QuestionFields):
    pass


@_question_fields
class SignupForm(FlaskForm, QuestionFields, PinFields):
    email = EmailField("Email", validators=[DataRequired(), EmailAddress(), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    first_name = StringField("First name", validators=[DataRequired(), Length(max=80)],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=80)],
                            render_kw={"autocomplete": "family-name"})
    pin = PasswordField("PIN (4–6 digits)", validators=[Length(max=20)], render_kw=_PIN_KW)
    pin_confirm = PasswordField("Repeat the PIN", validators=[Length(max=20)], render_kw=_PIN_KW)
    nickname = StringField("Account nickname", validators=[DataRequired(), Length(max=32)],
                           render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"})
    account_password = PasswordField("Account password", validators=[DataRequired(), Length(max=256)],
                                     render_kw={"autocomplete": "off"})
    timezone = SelectField("Account time zone", choices=TIMEZONE_CHOICES, default="America/New_York")


class StepUpOnlyForm(StepUpForm):
    """A button that needs only the step-up re-check (start 2FA set-up, new recovery codes…)."""


class ClerkTwoFactorForm(StepUpForm):
    require = BooleanField("Require two-factor authentication for all clerks")


class OptionalNextForm(FlaskForm):
    next = StringField(validators=[Optional(), Length(max=500)])
