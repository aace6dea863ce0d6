"""Redis URLs in the settings: Sentinel deployments read, mistakes named, secrets never shown."""

from __future__ import annotations

import pytest

from dlq.core.redis_url import SentinelURL, parse_sentinel_url
from dlq.core.settings import build_settings
from dlq.exceptions import ConfigurationError

SECRET = "hunter2"


def test_a_sentinel_url_names_sentinels_service_database_and_credentials() -> None:
    url = (
        "rediss+sentinel://app:hunter%2F2@s1.internal:26380,s2.internal,[::1]:5000/orders/3"
        "?sentinel_password=s%40ntinel&ssl_cert_reqs=none"
    )

    parts = parse_sentinel_url(url)

    assert parts == SentinelURL(
        sentinels=(("s1.internal", 26380), ("s2.internal", 26379), ("::1", 5000)),
        service="orders",
        db=3,
        tls=True,
        username="app",
        password="hunter/2",
        sentinel_password="s@ntinel",
        options=(("ssl_cert_reqs", "none"),),
    )
    assert parts.location == (
        "rediss+sentinel://app@s1.internal:26380,s2.internal:26379,[::1]:5000/orders/3"
    )
    assert "hunter" not in repr(parts)
    assert "s@ntinel" not in repr(parts)


def test_the_database_may_be_in_the_path_in_the_query_or_left_to_the_settings() -> None:
    assert parse_sentinel_url("redis+sentinel://h/svc/4").db == 4
    assert parse_sentinel_url("redis+sentinel://h/svc?db=5").db == 5
    assert parse_sentinel_url("redis+sentinel://h/svc").db is None  # REDIS_DATABASE


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://:hunter2@h1/", "names no service"),
        ("redis+sentinel://:hunter2@h1:port/svc", "'h1:port' has no valid port"),
        ("redis+sentinel://:hunter2@h1:70000/svc", "'h1:70000' has no valid port"),
        ("redis+sentinel://:hunter2@h1,,h2/svc", "a sentinel address is empty"),
        ("redis+sentinel://:hunter2@/svc", "a sentinel address is empty"),
        ("redis+sentinel://:hunter2@h1/svc/x", "the database 'x' is not a number"),
        ("redis+sentinel://:hunter2@[::1/svc", "is not [IPv6 address]:port"),
        ("redis+sentinel://:hunter2@h1/svc#frag", "no #fragment"),
        ("redis+sentinel://:hunter2@h1/svc?ssl_cert_reqs=none", "need a rediss+sentinel://"),
    ],
)
def test_a_wrong_sentinel_url_is_refused_by_the_settings_saying_why(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"LIGHTWEIGHT_QUEUE_REDIS_URL": url})

    message = str(caught.value)
    assert "LIGHTWEIGHT_QUEUE_REDIS_URL" in message
    assert says in message
    assert SECRET not in message
    assert "redis+sentinel://host:port[,host:port]/service[/db]" in message  # what is expected


def test_the_settings_accept_every_kind_of_url() -> None:
    for url in (
        "redis://h:6379/0",
        "rediss://u:p@h/1",
        "unix:///run/redis.sock?db=2",
        "redis+sentinel://h1:26379,h2:26379/mymaster/0",
        "rediss+sentinel://:p@h1/mymaster",
    ):
        assert build_settings({"LIGHTWEIGHT_QUEUE_REDIS_URL": url}).REDIS_URL is not None
