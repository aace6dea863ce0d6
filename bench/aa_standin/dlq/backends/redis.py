from django_lightweight_queue.backends.redis import RedisBackend  # noqa
