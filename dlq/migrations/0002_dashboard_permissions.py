"""The queue dashboard's permissions (see dlq.models.Dashboard), on a model with no table.

Django creates the permissions after ``manage.py migrate`` from this model's state;
nothing is created in the database by the migration itself.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dlq", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Dashboard",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "queue dashboard",
                "verbose_name_plural": "queues",
                "db_table": "dlq_dashboard",
                "permissions": [
                    ("view_dashboard", "Can see the queue dashboard"),
                    (
                        "operate_queues",
                        "Can pause, resume and clear queues and requeue or purge dead letters",
                    ),
                    ("view_payloads", "Can see job arguments and payloads on the queue dashboard"),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
