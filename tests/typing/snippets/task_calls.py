# Checked by tests/typing/test_typing_promises.py, not by the main mypy run: a line with an
# expectation comment must get exactly that error or note, and every other line none.
from datetime import datetime

from dlq import task
from dlq.conf import queue_settings


@task(queue="emails", timeout=30)
def send(user_id: int, subject: str, *, when: datetime | None = None) -> None: ...


send(1, "hi")
send(1, subject="hi", when=datetime(2026, 1, 1))
send.using(queue="urgent", timeout=5, sigkill_on_stop=True)(2, "now")
send.enqueue(3, "x")
with send.bulk_enqueue(batch_size=10) as enqueue:
    enqueue(4, "bulk")
    enqueue("4", "bulk")  # E: Argument 1 to "__call__" of "BulkEnqueue" has incompatible type "str"; expected "int"  [arg-type]

send("1", "hi")  # E: Argument 1 to "__call__" of "Task" has incompatible type "str"; expected "int"  [arg-type]
send(1)  # E: Missing positional argument "subject" in call to "__call__" of "Task"  [call-arg]
send(1, "hi", urgent=True)  # E: Unexpected keyword argument "urgent" for "__call__" of "Task"  [call-arg]
send(1, "hi", when="tomorrow")  # E: Argument "when" to "__call__" of "Task" has incompatible type "str"; expected "datetime | None"  [arg-type]
send.using(queue=3)  # E: Argument "queue" to "using" of "Task" has incompatible type "int"; expected "str"  [arg-type]
send.using(priority=1)  # E: Unexpected keyword argument "priority" for "using" of "Task"  [call-arg]

settings = queue_settings()
reveal_type(settings.REDIS_PORT)  # N: Revealed type is "int"
reveal_type(settings.WORKERS)  # N: Revealed type is "typing.Mapping[str, int]"
settings.REDIS_PROT  # E: "QueueSettings" has no attribute "REDIS_PROT"; maybe "REDIS_PORT" or "REDIS_HOST"?  [attr-defined]
settings.REDIS_PORT = 1  # E: Property "REDIS_PORT" defined in "QueueSettings" is read-only  [misc]
