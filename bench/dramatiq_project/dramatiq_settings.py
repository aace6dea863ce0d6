"""Settings of the Dramatiq bench project: only what measure.py's django.setup() needs.

Dramatiq's worker does not load Django at all; the harness does, to import benchapp.tasks
the same way for every system.
"""

from benchkit.settings_common import common_settings

globals().update(common_settings("dramatiq"))

INSTALLED_APPS = ["benchapp"]
