CONFIG = (
    {
        "command": "nightly_report",
        "days": "1-5",
        "hours": "2",
        "minutes": "0",
        "queue": "reports",
        "sigkill_on_stop": True,
        "command_kwargs": {"region": "eu"},
    },
)
