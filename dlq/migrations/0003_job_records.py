"""Job records (dlq_job_record): one row per job that keeps its result, pruned by expires_at."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dlq", "0002_dashboard_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobRecordRow",
            fields=[
                ("job_id", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("record", models.TextField()),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "db_table": "dlq_job_record",
            },
        ),
    ]
