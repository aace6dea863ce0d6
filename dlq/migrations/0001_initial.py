"""The database backend's tables (see dlq.backends.database.schema)."""

from typing import Any

from django.db import migrations, models

import dlq.models

_DELAYED_INDEX = "dlq_job_delayed"


def _create_delayed_index(apps: Any, schema_editor: Any) -> None:
    """The index that finds due delayed jobs: only delayed rows where partial indexes
    exist (no cost to enqueues and claims of the others), a full one on MySQL/MariaDB."""
    if schema_editor.connection.features.supports_partial_indexes:
        sql = f"CREATE INDEX {_DELAYED_INDEX} ON dlq_job (queue, available_at) WHERE is_delayed"
    else:
        sql = f"CREATE INDEX {_DELAYED_INDEX} ON dlq_job (queue, is_delayed, available_at)"
    schema_editor.execute(sql)


def _drop_delayed_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(f"DROP INDEX {_DELAYED_INDEX} ON dlq_job")
    else:
        schema_editor.execute(f"DROP INDEX {_DELAYED_INDEX}")


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Claim",
            fields=[
                ("key_hash", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "db_table": "dlq_claim",
            },
        ),
        migrations.CreateModel(
            name="CronFiring",
            fields=[
                ("entry_hash", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("entry_id", models.TextField()),
                ("fired_at", models.DateTimeField()),
            ],
            options={
                "db_table": "dlq_cron_firing",
            },
        ),
        migrations.CreateModel(
            name="QueueState",
            fields=[
                ("queue", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("paused_until", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "dlq_queue",
            },
        ),
        migrations.CreateModel(
            name="DeadJob",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue", models.CharField(max_length=255)),
                ("job_id", models.TextField(blank=True, null=True)),
                ("payload", models.TextField()),
                ("reason", models.TextField()),
                ("failed_at", models.DateTimeField(db_default=dlq.models.UtcNow())),
            ],
            options={
                "db_table": "dlq_dead_job",
                "indexes": [models.Index(fields=["queue", "id"], name="dlq_dead_job_queue")],
            },
        ),
        migrations.CreateModel(
            name="QueuedJob",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue", models.CharField(max_length=255)),
                ("payload", models.TextField()),
                ("priority", models.SmallIntegerField(db_default=0, default=0)),
                ("available_at", models.DateTimeField(db_default=dlq.models.UtcNow())),
                ("is_delayed", models.BooleanField(db_default=False, default=False)),
                ("worker", models.IntegerField(blank=True, null=True)),
            ],
            options={
                "db_table": "dlq_job",
                "indexes": [
                    models.Index(
                        fields=["queue", "worker", "is_delayed", "-priority", "available_at", "id"],
                        name="dlq_job_claim",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="SlotState",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue", models.CharField(max_length=255)),
                ("number", models.IntegerField()),
                ("owner", models.CharField(blank=True, max_length=255, null=True)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("started", models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                "db_table": "dlq_slot",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("queue", "number"), name="dlq_slot_queue_number"
                    )
                ],
            },
        ),
        # Not in the model's state: see QueuedJob.Meta. DDL outside a transaction: MySQL
        # has none for it.
        migrations.RunPython(_create_delayed_index, _drop_delayed_index, atomic=False),
    ]
