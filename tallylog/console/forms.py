"""Console forms. They render and check the shape of input; the rules live in the model
validators and in ``actions``, which the API calls too."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import ALIAS_MAX, STAFF_CHANNELS, STATEMENT_MAX, Channel
from tallylog.registry.volunteers.actions import ConsoleError
from tallylog.registry.volunteers.models import NOTE_MAX, Call, Centre, Outcome, Role
from tallylog.registry.volunteers.validators import latest_today, region_choices


def add_console_errors(form: forms.BaseForm, exc: ConsoleError) -> None:
    """Show an action's errors on ``form``: on the field they name, else above it."""
    for field, messages in exc.errors.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form for staff. Failed sign-ins are limited per source and per
    account before the form runs (``tallylog.safety.logins``, in the middleware)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_staff": _("This account has no place in the service centre console."),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not hasattr(user, "staff"):
            raise forms.ValidationError(self.error_messages["not_staff"], code="not_staff")


def _region_field(label: Any) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=lambda: [("", _("(not said)")), *region_choices()],
    )


class CallForm(forms.ModelForm):
    """One call's record. There is deliberately no field for a phone number or a name."""

    centre = forms.ModelChoiceField(
        queryset=Centre.objects.all(), to_field_name="slug", required=False, widget=forms.HiddenInput
    )
    region = _region_field(_("Region called"))

    class Meta:
        model = Call
        fields = ["called_on", "outcome", "language", "region", "duration", "note"]
        labels = {
            "called_on": _("Date of the call"),
            "outcome": _("Outcome"),
            "language": _("Language"),
            "duration": _("Duration"),
            "note": _("Note (no names, no phone numbers)"),
        }
        widgets = {
            # ISO whatever the language: <input type=date> takes YYYY-MM-DD only (a localised
            # 2026/12/03 shows as empty, and its default, today, is lost).
            "called_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "outcome": forms.RadioSelect,
            "note": forms.TextInput(attrs={"maxlength": NOTE_MAX, "autocomplete": "off"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["called_on"].required = False  # default: today
        self.fields["called_on"].widget.attrs["max"] = latest_today().isoformat()
        # No blank choice among the radios (it would start selected, as "---------"): one
        # must be chosen, and the error says which.
        self.fields["outcome"].choices = Outcome.choices  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["outcome"].error_messages["required"] = _("Choose the outcome of the call.")
        for name, label in (("language", _("(choose the language)")), ("duration", _("(choose how long)"))):
            field = self.fields[name]
            field.choices = [("", label), *(c for c in field.choices if c[0] != "")]  # type: ignore[attr-defined]
        self.fields["language"].error_messages["required"] = _("Choose the language of the call.")
        self.fields["duration"].error_messages["required"] = _("Choose how long the call lasted.")
        self.fields["outcome"].widget.attrs["accesskey"] = "o"
        self.fields["language"].widget.attrs["accesskey"] = "l"
        self.fields["note"].widget.attrs["accesskey"] = "n"


class IntakeForm(forms.Form):
    """What one intake records for the whole family: the channel the declaration reached
    the service through (phone unless the volunteer chooses another; a radio group, its
    arrows move the choice) and the one-time token. Each member has a ``MemberForm``."""

    channel = forms.ChoiceField(
        label=_("Received by"),
        choices=[(c.value, c.label) for c in STAFF_CHANNELS],
        initial=Channel.PHONE,
        required=False,  # not sent: phone
        widget=forms.RadioSelect(attrs={"accesskey": "k"}),
    )
    # One-time token: a form sent twice records its declarations once (views.intake).
    once = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_channel(self) -> str:
        return self.cleaned_data["channel"] or Channel.PHONE


class MemberForm(forms.Form):
    """One member's declaration, dictated; laid out for the keyboard: the alias has focus,
    fields follow in speaking order, access keys reach the first member's fields."""

    alias = forms.CharField(
        label=_("Alias"),
        max_length=ALIAS_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    orgs = forms.MultipleChoiceField(label=_("Withdraws from"), widget=forms.CheckboxSelectMultiple)
    statement = forms.CharField(
        label=_("Statement, as dictated"),
        required=False,
        max_length=STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    region = _region_field(_("Region"))

    def __init__(self, campaign: Campaign, *args: Any, language: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["orgs"].choices = [  # type: ignore[attr-defined]  # a ChoiceField
            (org.code, org.localized("name", language)) for org in campaign.organisations.all()
        ]
        if self.prefix is None:  # the first member: access keys (unique on the page)
            for name, key in (("alias", "a"), ("orgs", "w"), ("statement", "s"), ("region", "r")):
                self.fields[name].widget.attrs["accesskey"] = key

    def focus(self) -> None:
        """Give this member's alias the focus when the page loads."""
        self.fields["alias"].widget.attrs["autofocus"] = True


class CentreForm(forms.Form):
    name = forms.CharField(label=_("Name of the centre"), max_length=100)
    slug = forms.SlugField(label=_("Short name in addresses (optional)"), max_length=64, required=False)


class StaffForm(forms.Form):
    """A new staff member. A coordinator sees neither role nor centre: they add
    volunteers to their own centre."""

    username = forms.CharField(label=_("Username"), max_length=150)
    password1 = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label=_("Password again"), strip=False, widget=forms.PasswordInput)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VOLUNTEER)
    centre = forms.ModelChoiceField(
        label=_("Centre"),
        queryset=Centre.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label=_("(no centre: moderators and operators)"),
    )
    review_required = forms.BooleanField(label=_("Hold their declarations for review"), required=False)

    def __init__(self, *args: Any, operator: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not operator:
            del self.fields["role"]
            del self.fields["centre"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned
