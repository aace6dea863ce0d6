"""Settings of the dlq bench project: the same as upstream's but for the app and backends."""

from benchkit.settings_common import common_settings

globals().update(common_settings("dlq"))

INSTALLED_APPS = ["dlq", "benchapp"]
