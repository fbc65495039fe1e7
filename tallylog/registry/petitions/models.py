"""Petition signatures, and the per-petition options of a campaign of kind ``petition``.

What is kept (docs/petitions.md): name, whether to show it, country or region; the email
address only until the signature is confirmed (then erased), and forever a keyed hash of it
to refuse a second signature with the same address. The leaf of a counted signature holds
a salted commitment to ``{"country", "name"}`` and the receipt tag — never the address.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import LogEntry, TallyCount

NAME_MAX = 80


class Petition(models.Model):
    """Options of a petition campaign. A petition without a row uses the defaults."""

    campaign = models.OneToOneField(
        Campaign, verbose_name=_("campaign"), primary_key=True, on_delete=models.CASCADE, related_name="petition",
        limit_choices_to={"kind": Campaign.Kind.PETITION},
    )
    require_confirmation = models.BooleanField(
        _("require email confirmation"), default=True,
        help_text=_("Double opt-in: a signature counts only once its email link is followed."),
    )

    class Meta:
        verbose_name = _("petition options")
        verbose_name_plural = _("petition options")

    def __str__(self) -> str:
        return str(self.campaign)

    @classmethod
    def options_for(cls, campaign: Campaign) -> Petition:
        """The stored options of ``campaign``, or the defaults (unsaved)."""
        try:
            return cls.objects.get(campaign=campaign)
        except cls.DoesNotExist:
            return cls(campaign=campaign)


def is_open(campaign: Campaign, now: datetime | None = None) -> bool:
    """Whether ``campaign`` is a petition that takes signatures at ``now``."""
    now = now or timezone.now()
    return (
        campaign.kind == Campaign.Kind.PETITION
        and campaign.is_active
        and (campaign.closes_at is None or now < campaign.closes_at)
    )


class PetitionSummary(TypedDict):
    count: int
    in_log: int
    percent: int | None
    by_country: list[tuple[str, int]]


def petition_summary(campaign: Campaign) -> PetitionSummary:
    """Count, progress and counts by country of a petition (for the page and the API)."""
    signatures = Signature.objects.for_campaign(campaign)
    by_country = signatures.by_country()
    count = sum(n for _code, n in by_country)
    in_log = TallyCount.objects.for_campaign(campaign, "total").get("", 0)
    percent = min(100, count * 100 // campaign.target) if campaign.target else None
    return {"count": count, "in_log": in_log, "percent": percent, "by_country": by_country}


class SignatureQuerySet(models.QuerySet["Signature"]):
    def counted(self) -> SignatureQuerySet:
        """Signatures that count: confirmed (or not needing confirmation) and logged."""
        return self.filter(status=Signature.Status.COUNTED)

    def for_campaign(self, campaign: Campaign) -> SignatureQuerySet:
        return self.filter(campaign=campaign)

    def recent_public(self) -> SignatureQuerySet:
        """Logged signatures whose signers chose to show their name, newest batch first
        (by log index: random within a batch, never the order of signing)."""
        return self.counted().filter(show_name=True, entry__log_index__isnull=False).order_by("-entry__log_index")

    def by_country(self) -> list[tuple[str, int]]:
        """(country code, count) of counted signatures, largest first."""
        rows = (
            self.counted().order_by().values_list("country").annotate(n=models.Count("id"))
            .values_list("country", "n")
        )
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def unconfirmed_before(self, when: datetime) -> SignatureQuerySet:
        return self.filter(status=Signature.Status.PENDING, created_at__lt=when)


class Signature(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("awaiting email confirmation")
        COUNTED = "counted", _("counted")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="signatures"
    )
    name = models.CharField(_("name"), max_length=NAME_MAX)
    show_name = models.BooleanField(_("name shown publicly"), default=False)
    country = models.CharField(_("country or region"), max_length=2)
    # Kept only until confirmation, to send the link; erased then.
    email = models.EmailField(_("email"), max_length=254, blank=True)
    # HMAC of the normalised address (subscribers.emails.email_hash); null without email.
    email_hash = models.BinaryField(max_length=32, null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    channel = models.CharField(_("channel"), max_length=16, default="web")
    language = models.CharField(_("language"), max_length=8, default="en")  # for the confirmation mail
    # Set when counted: the commitment's salt, the receipt's keyed hash, the leaf tag.
    salt = models.BinaryField(max_length=32, null=True, blank=True, editable=False)
    receipt_hash = models.BinaryField(max_length=32, null=True, blank=True, unique=True, editable=False)
    tag = models.CharField(max_length=64, blank=True, editable=False)
    entry = models.OneToOneField(
        LogEntry, verbose_name=_("log entry"),
        on_delete=models.PROTECT, null=True, blank=True, related_name="signature",
        editable=False,
    )
    created_at = models.DateTimeField(_("signed at"), auto_now_add=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    # Cut to midnight UTC of the log day by the sequencer, in the transaction that logs the
    # entry (tallylog.registry.entries.sequencer.blur_times; SECURITY.md, "Times blurred").
    DAY_ONLY_FIELDS = ("created_at", "counted_at")

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "email_hash"], name="signature_email_once",
                condition=models.Q(email_hash__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "country"], name="signature_country_idx"),
            models.Index(fields=["campaign", "status", "show_name", "counted_at"], name="signature_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"signature {self.pk}"

    def public_content(self) -> dict[str, str]:
        """The content the leaf's ``commit`` covers (``tallylog.leaf.commitment``).

        The salt and this content are published only when the signer chose to show the
        name; otherwise the commitment stays closed.
        """
        return {"country": self.country, "name": self.name}
