from django_lightweight_queue.management.commands.queue_worker import Command  # noqa
