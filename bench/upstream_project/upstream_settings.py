"""Settings of the upstream (django-lightweight-queue 4.11.0) bench project."""

from benchkit.settings_common import common_settings

globals().update(common_settings("upstream"))

INSTALLED_APPS = ["django_lightweight_queue", "benchapp"]
