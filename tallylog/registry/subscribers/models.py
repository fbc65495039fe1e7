"""Newsletter subscribers, the consent statements they agreed to, and mailings sent to them.

What is kept (docs/petitions.md): the address, the language, the consent statement version
and the time of consent, while subscribed. Unsubscribing deletes the row (and its delivery
records); nothing else about a subscriber is stored, and never an IP address.
"""

from __future__ import annotations

import datetime
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Localized
from tallylog.registry.news.models import LANGUAGE_CHOICES, Post


class ConsentStatementQuerySet(models.QuerySet["ConsentStatement"]):
    def current(self) -> ConsentStatement:
        """The statement shown on the sign-up form: the latest one in force."""
        statement = self.filter(in_force_from__lte=timezone.now()).order_by("-in_force_from", "-id").first()
        if statement is None:
            raise ConsentStatement.DoesNotExist("no consent statement is in force")
        return statement


class ConsentStatement(Localized, models.Model):
    """A version of the sentence a subscriber agrees to. Never edited once in use: a new
    wording is a new version, so each subscriber's record says what they agreed to."""

    version = models.CharField(_("version"), max_length=32, unique=True)
    text_zh_hans = models.TextField(_("text (Simplified Chinese)"))
    text_zh_hant = models.TextField(_("text (Traditional Chinese)"))
    text_en = models.TextField(_("text (English)"))
    in_force_from = models.DateTimeField(_("in force from"), default=timezone.now)

    objects = ConsentStatementQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent statement")
        verbose_name_plural = _("consent statements")

    def __str__(self) -> str:
        return self.version


def new_key() -> str:
    return secrets.token_urlsafe(12)


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def confirmed(self) -> SubscriberQuerySet:
        return self.filter(status=Subscriber.Status.CONFIRMED)

    def unconfirmed_before(self, when: datetime.datetime) -> SubscriberQuerySet:
        """Sign-ups never confirmed and older than ``when`` (their link has expired)."""
        return self.filter(status=Subscriber.Status.PENDING, created_at__lt=when)


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("awaiting confirmation")
        CONFIRMED = "confirmed", _("confirmed")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGE_CHOICES)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    consent = models.ForeignKey(
        ConsentStatement, verbose_name=_("consent statement"), on_delete=models.PROTECT, related_name="subscribers"
    )
    consented_at = models.DateTimeField(_("consented at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Random, bound into this subscription's tokens: a link for an earlier subscription of
    # the same address does nothing to a later one.
    key = models.CharField(max_length=24, default=new_key, editable=False)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        indexes = [models.Index(fields=["status", "id"], name="subscriber_status_idx")]

    def __str__(self) -> str:
        return self.email


class Mailing(models.Model):
    """One sending of a post (or a digest of recent posts) to the confirmed subscribers.

    Its recipients are fixed when it is created (one ``Delivery`` each); sending walks them
    and may be interrupted and resumed any number of times (``newsletter.send_mailing``).
    """

    class Kind(models.TextChoices):
        POST = "post", _("post")
        DIGEST = "digest", _("digest")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    post = models.OneToOneField(
        Post, verbose_name=_("post"), null=True, blank=True, on_delete=models.PROTECT, related_name="mailing",
        help_text=_("A post is mailed once: sending it again resumes this mailing."),
    )
    digest_since = models.DateTimeField(_("digest of posts since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    recipients = models.PositiveIntegerField(_("recipients"), default=0)

    class Meta:
        verbose_name = _("mailing")
        verbose_name_plural = _("mailings")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="post", post__isnull=False, digest_since__isnull=True)
                | models.Q(kind="digest", post__isnull=True, digest_since__isnull=False),
                name="mailing_post_or_digest",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.POST:
            return f"mailing {self.pk}: {self.post}"
        return f"mailing {self.pk}: digest since {self.digest_since:%Y-%m-%d}"

    def progress(self) -> dict[str, int]:
        """Deliveries counted by state (``pending``, ``sent``, …)."""
        counts = dict(
            self.deliveries.values_list("state").annotate(n=models.Count("id")).values_list("state", "n")
        )
        return {state: counts.get(state, 0) for state in Delivery.State.values}


class Delivery(models.Model):
    """Whether one subscriber got one mailing. ``sending`` is written and committed before
    the message goes to the SMTP server and ``sent`` after it is accepted, so after a crash
    a ``sending`` row is the only doubt, and it is never sent again (``uncertain``)."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("refused by the mail server")
        UNCERTAIN = "uncertain", _("interrupted: maybe sent")
        SKIPPED = "skipped", _("nothing to send in this language")

    mailing = models.ForeignKey(Mailing, verbose_name=_("mailing"), on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="deliveries"
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    error = models.CharField(_("error"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["mailing", "subscriber"], name="delivery_once"),
        ]
        indexes = [models.Index(fields=["mailing", "state", "id"], name="delivery_state_idx")]

    def __str__(self) -> str:
        # Ids, not the address: the admin's list may be seen by more people than the subscriber list.
        return f"mailing {self.mailing_id} to subscriber {self.subscriber_id}: {self.state}"
