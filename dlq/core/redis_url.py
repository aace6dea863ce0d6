"""The Redis URLs ``LIGHTWEIGHT_QUEUE_REDIS_URL`` accepts, checked without a Redis library.

Plain servers: ``redis://``, ``rediss://`` (TLS) and ``unix://``, as redis-py reads them.
A Sentinel deployment, whose master moves on failover::

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?options]
    rediss+sentinel://...   (TLS to the sentinels and to Redis)

The hosts are the sentinels (port 26379 unless given), ``service`` the name they monitor
the master under (``sentinel monitor <service> ...``), ``db`` the database
(``REDIS_DATABASE`` when the URL names none). The user
and password authenticate to Redis; sentinels that require a password of their own take
``?sentinel_password=...`` (and ``sentinel_username=...``). Other options are redis-py's
(``ssl_ca_certs``, ``ssl_cert_reqs``, ``protocol``, ...), as in a ``rediss://`` URL.

Settings validation (:mod:`dlq.core.settings`) and the Redis backends
(:mod:`dlq.backends.redis.connection`) read a Sentinel URL through
:func:`parse_sentinel_url`, so a URL that passes ``manage.py check`` is the URL the backends
use. Its errors never quote the password: only the parts that cannot hold one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "PLAIN_SCHEMES",
    "SENTINEL_PORT",
    "SENTINEL_SCHEMES",
    "SentinelURL",
    "check_redis_url",
    "parse_sentinel_url",
]

PLAIN_SCHEMES = frozenset({"redis", "rediss", "unix"})
SENTINEL_SCHEMES = frozenset({"redis+sentinel", "rediss+sentinel"})
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """A Sentinel deployment, as its URL names it."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    #: None when the URL names no database.
    db: int | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    #: The other query options, for redis-py's connections (in the URL's order).
    options: tuple[tuple[str, str], ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.sentinel_password) if s)

    @property
    def location(self) -> str:
        """The URL without secrets or options, for messages."""
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        who = f"{self.username}@" if self.username else ""
        hosts = ",".join(_host_port(host, port) for host, port in self.sentinels)
        database = "" if self.db is None else f"/{self.db}"
        return f"{scheme}://{who}{hosts}/{self.service}{database}"


def check_redis_url(url: str) -> None:
    """Raise ValueError (naming what is wrong, never a secret) unless dlq can use ``url``."""
    if url.partition("://")[0] in SENTINEL_SCHEMES:
        parse_sentinel_url(url)  # (urlsplit cannot read several hosts)
        return
    scheme = urlsplit(url).scheme
    if scheme not in PLAIN_SCHEMES:
        raise ValueError(f"the URL's scheme is {scheme!r}")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of a ``redis+sentinel://`` or ``rediss+sentinel://`` URL; ValueError if wrong."""
    # urlsplit() cannot read a netloc of several host:port pairs: split it by hand.
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in SENTINEL_SCHEMES:
        raise ValueError(
            f"a Sentinel URL starts with redis+sentinel:// or rediss+sentinel://, not {scheme!r}"
        )
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon and secret else None
    sentinels = tuple(_sentinel(part) for part in hosts.split(","))
    service, _, db_text = path.strip("/").partition("/")
    service = unquote(service)
    if not service:
        raise ValueError(
            "the URL names no service: put the name the sentinels monitor the master under"
            " after the hosts, as in redis+sentinel://host:26379/mymaster"
        )
    db = _db(db_text)
    options: list[tuple[str, str]] = []
    sentinel_username = sentinel_password = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "sentinel_username":
            sentinel_username = value or None
        elif key == "sentinel_password":
            sentinel_password = value or None
        elif key == "db":
            db = _db(value)
        else:
            options.append((key, value))
    tls = scheme == "rediss+sentinel"
    if not tls and any(key.startswith("ssl") for key, _ in options):
        raise ValueError("TLS options need a rediss+sentinel:// URL")
    if fragment:
        raise ValueError("a Sentinel URL has no #fragment")
    return SentinelURL(
        sentinels,
        service,
        db,
        tls=tls,
        username=username,
        password=password,
        sentinel_username=sentinel_username,
        sentinel_password=sentinel_password,
        options=tuple(options),
    )


def _sentinel(part: str) -> tuple[str, int]:
    text = part.strip()
    if not text:
        raise ValueError("a sentinel address is empty: list them as host:port,host:port")
    if text.startswith("["):  # [IPv6]:port
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"the sentinel address {text!r} is not [IPv6 address]:port")
        port_text = after[1:]
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"the sentinel address {text!r} has no host")
    if not port_text:
        return host, SENTINEL_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"the sentinel address {text!r} has no valid port (1 to 65535)")
    return host, int(port_text)


def _db(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"the database {text!r} is not a number >= 0")
    return int(text)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
