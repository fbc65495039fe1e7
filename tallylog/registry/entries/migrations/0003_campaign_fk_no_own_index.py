# The campaign foreign key loses its single-column index: ``entry_campaign_index_idx``
# (campaign, log_index) starts with the campaign and serves every lookup by it.

from django.db import migrations

from tallylog.migrationops import drop_campaign_fk_index


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("entries", "0002_entry_campaign_index")]
    operations = [
        drop_campaign_fk_index("logentry", "log_entries", "entries_logentry", "entries_logentry_campaign_id_bfdfe919"),
    ]
