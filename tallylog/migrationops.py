"""Migration operations shared by the apps' migrations."""

from __future__ import annotations

from django.db import migrations, models


def drop_campaign_fk_index(model_name: str, related_name: str, table: str, index: str) -> migrations.SeparateDatabaseAndState:
    """The ``campaign`` foreign key of ``model_name`` without its single-column index
    ``index`` (named as Django named it in the app's first migration), where a composite
    index starting with the campaign serves every lookup by it.

    A plain ``AlterField(db_index=False)`` would rebuild the whole table on SQLite (copying
    every row: hours at hundreds of millions); this drops the index alone, on both
    databases, and records the field's new state."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AlterField(
                model_name=model_name,
                name="campaign",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=models.PROTECT,
                    related_name=related_name,
                    to="campaigns.campaign",
                ),
            ),
        ],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("campaign_id")',
            ),
        ],
    )
