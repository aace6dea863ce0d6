from django_lightweight_queue.backends.reliable_redis import ReliableRedisBackend  # noqa
