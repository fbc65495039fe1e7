"""Issue 15 item 1: declarations made so far keep their old public URL (by database id);
every sequenced declaration, signature and log entry keeps its times only to the day."""

from django.db import migrations, models
from django.db.models.functions import TruncDay


def blur(apps, schema_editor):
    Declaration = apps.get_model("declarations", "Declaration")
    LogEntry = apps.get_model("entries", "LogEntry")
    Signature = apps.get_model("petitions", "Signature")
    Declaration.objects.update(legacy_url=True)
    Declaration.objects.filter(entry__log_index__isnull=False).update(
        created_at=TruncDay("created_at"), published_at=TruncDay("published_at")
    )
    Signature.objects.filter(entry__log_index__isnull=False).update(
        created_at=TruncDay("created_at"), counted_at=TruncDay("counted_at")
    )
    LogEntry.objects.filter(log_index__isnull=False).update(
        published_at=TruncDay("published_at"), sequenced_at=TruncDay("sequenced_at")
    )


class Migration(migrations.Migration):

    dependencies = [
        ("declarations", "0003_declaration_tag_salt"),
        ("entries", "0003_campaign_fk_no_own_index"),
        ("petitions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="declaration",
            name="legacy_url",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(blur, migrations.RunPython.noop),
    ]
