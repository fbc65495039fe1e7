"""Who placed a review hold (issue 15.7): holds placed before this migration count as an
operator's, so that no coordinator lifts a hold whose author is unknown."""

from django.db import migrations, models


def holds_so_far_are_operators(apps, schema_editor):  # noqa: ANN001, ANN201
    Staff = apps.get_model("volunteers", "Staff")
    Staff.objects.filter(review_required=True).update(review_held_by="operator")


class Migration(migrations.Migration):

    dependencies = [
        ('volunteers', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='staff',
            name='review_held_by',
            field=models.CharField(blank=True, choices=[('volunteer', 'volunteer'), ('coordinator', 'coordinator'), ('moderator', 'moderator'), ('operator', 'operator')], max_length=16),
        ),
        migrations.RunPython(holds_so_far_are_operators, migrations.RunPython.noop),
    ]
