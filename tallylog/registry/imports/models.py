"""Bulk imports: one ``ImportRun`` per (campaign, file content), the resume point of each.

The importer (``tallylog.registry.imports.importer``) commits each batch of declarations
and the run's new resume point (``lines_done``) in ONE transaction, so after a crash a
second run of the same file skips exactly what was committed and imports the rest: no
row is lost and none is imported twice.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tallylog.registry.campaigns.models import Campaign


class ImportRunQuerySet(models.QuerySet["ImportRun"]):
    def unfinished(self) -> ImportRunQuerySet:
        return self.filter(finished_at__isnull=True)

    def of_file(self, campaign: Campaign, sha256: str) -> ImportRunQuerySet:
        return self.filter(campaign=campaign, file_sha256=sha256)


class ImportRun(models.Model):
    """The progress of importing one file (identified by the SHA-256 of its content) into
    one campaign. ``lines_done`` is the last line of the file whose row is committed
    (imported or rejected); a later run starts after it."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="import_runs"
    )
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    file_name = models.CharField(_("file name"), max_length=255)  # the base name, for the operator
    format = models.CharField(_("format"), max_length=8)
    lines_total = models.PositiveBigIntegerField(_("lines in all"), default=0)
    lines_done = models.PositiveBigIntegerField(_("lines done"), default=0)
    imported = models.PositiveBigIntegerField(_("imported"), default=0)
    rejected = models.PositiveBigIntegerField(_("rejected"), default=0)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("import run")
        verbose_name_plural = _("import runs")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "file_sha256"], name="import_run_file_unique"),
        ]

    def __str__(self) -> str:
        return f"import of {self.file_name} into {self.campaign_id}"
