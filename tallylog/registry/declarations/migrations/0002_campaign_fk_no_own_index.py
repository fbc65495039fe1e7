# The campaign foreign key loses its single-column index: ``declaration_status_idx``
# (campaign, status, id) starts with the campaign and serves every lookup by it.

from django.db import migrations

from tallylog.migrationops import drop_campaign_fk_index


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("declarations", "0001_initial")]
    operations = [
        drop_campaign_fk_index(
            "declaration", "declarations", "declarations_declaration", "declarations_declaration_campaign_id_96887f67"
        ),
    ]
