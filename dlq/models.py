"""The database backend's tables (``dlq.backends.database``), created by ``manage.py migrate``,
and :class:`Dashboard`, which has no table and carries the queue dashboard's permissions.

The backend reads and writes its tables with its own SQL (see
:mod:`dlq.backends.database.schema` for what each column means); the models are here so
that Django's migrations create them and so that you can look at them with the ORM or the
admin. Change rows only through dlq's commands: the backend relies on what it writes.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Now

from dlq.backends.database import schema

__all__ = [
    "Claim",
    "CronFiring",
    "Dashboard",
    "DeadJob",
    "JobRecordRow",
    "QueueState",
    "QueuedJob",
    "SlotState",
    "UtcNow",
]


class UtcNow(Now):
    """The database's clock, in UTC on every database (MySQL's ``CURRENT_TIMESTAMP`` is in
    the session's time zone, and Django stores UTC)."""

    def as_mysql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(compiler, connection, template="UTC_TIMESTAMP(6)", **extra_context)


class QueuedJob(models.Model):
    id = models.BigAutoField(primary_key=True)
    queue = models.CharField(max_length=schema.MAX_NAME_LENGTH)
    payload = models.TextField()
    priority = models.SmallIntegerField(default=0, db_default=0)
    available_at = models.DateTimeField(db_default=UtcNow())
    is_delayed = models.BooleanField(default=False, db_default=False)
    worker = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = schema.JOB_TABLE
        indexes = [
            # The claim: equality on queue, worker (IS NULL) and delayed, then the order.
            # Also every lookup of the rows a worker slot holds (queue, worker).
            models.Index(
                fields=["queue", "worker", "is_delayed", "-priority", "available_at", "id"],
                name="dlq_job_claim",
            ),
            # (The index that promotes due delayed jobs is made by migration 0001 alone:
            # partial where the database has partial indexes, full on MySQL, whose model
            # check would otherwise warn (models.W037) that the condition is ignored.)
        ]

    def __str__(self) -> str:
        return f"job row {self.id} of {self.queue!r}"


class DeadJob(models.Model):
    id = models.BigAutoField(primary_key=True)
    queue = models.CharField(max_length=schema.MAX_NAME_LENGTH)
    job_id = models.TextField(null=True, blank=True)
    payload = models.TextField()
    reason = models.TextField()
    failed_at = models.DateTimeField(db_default=UtcNow())

    class Meta:
        db_table = schema.DEAD_TABLE
        indexes = [models.Index(fields=["queue", "id"], name="dlq_dead_job_queue")]

    def __str__(self) -> str:
        return f"dead letter {self.id} of {self.queue!r}"


class QueueState(models.Model):
    queue = models.CharField(max_length=schema.MAX_NAME_LENGTH, primary_key=True)
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = schema.QUEUE_TABLE

    def __str__(self) -> str:
        return f"queue {self.queue!r}"


class SlotState(models.Model):
    id = models.BigAutoField(primary_key=True)
    queue = models.CharField(max_length=schema.MAX_NAME_LENGTH)
    number = models.IntegerField()
    owner = models.CharField(max_length=schema.MAX_NAME_LENGTH, null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = schema.SLOT_TABLE
        constraints = [
            models.UniqueConstraint(fields=["queue", "number"], name="dlq_slot_queue_number")
        ]

    def __str__(self) -> str:
        return f"worker slot {self.queue}.{self.number}"


class Claim(models.Model):
    key_hash = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = schema.CLAIM_TABLE

    def __str__(self) -> str:
        return f"claim {self.key_hash[:12]}"


class CronFiring(models.Model):
    entry_hash = models.CharField(max_length=64, primary_key=True)
    entry_id = models.TextField()
    fired_at = models.DateTimeField()

    class Meta:
        db_table = schema.CRON_TABLE

    def __str__(self) -> str:
        return f"cron entry {self.entry_id}"


class JobRecordRow(models.Model):
    """A job's :class:`~dlq.domain.job_record.JobRecord` (jobs that keep their result),
    read and pruned by ``expires_at``."""

    job_id = models.CharField(max_length=schema.MAX_NAME_LENGTH, primary_key=True)
    record = models.TextField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = schema.RECORD_TABLE

    def __str__(self) -> str:
        return f"record of job {self.job_id}"


class Dashboard(models.Model):
    """The queue dashboard's place in the admin, and its three permissions; no table.

    The admin lists a registered model on its index and checks permissions per model, so
    the dashboard (:mod:`dlq.dashboard`) is registered as this model's admin. Django
    creates the permissions on ``manage.py migrate`` from migration 0002; grant them to
    staff users or groups in the admin's user pages:

    * ``dlq.view_dashboard``: see the queues, cron entries and jobs (task names, ids,
      times, counts, reasons), never a job's arguments or payload;
    * ``dlq.operate_queues``: pause, resume and clear queues, requeue and purge dead
      letters (with ``view_dashboard``, to reach the buttons);
    * ``dlq.view_payloads``: see job arguments and raw payloads, which may hold personal
      data.
    """

    class Meta:
        managed = False  # nothing to store: what it shows lives in the queues' backends
        db_table = "dlq_dashboard"
        default_permissions = ()
        permissions = [
            ("view_dashboard", "Can see the queue dashboard"),
            (
                "operate_queues",
                "Can pause, resume and clear queues and requeue or purge dead letters",
            ),
            ("view_payloads", "Can see job arguments and payloads on the queue dashboard"),
        ]
        verbose_name = "queue dashboard"
        verbose_name_plural = "queues"

    def __str__(self) -> str:
        return "queue dashboard"
