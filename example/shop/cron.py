CONFIG = (
    {"command": "shop_heartbeat", "days": "*", "hours": "*", "minutes": "*", "queue": "reports"},
)
