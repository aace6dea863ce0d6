from django_lightweight_queue.management.commands.queue_runner import Command  # noqa
