#!/usr/bin/env python
"""manage.py of the dlq bench project; run with bench/.venv-dlq/bin/python."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The project dir (settings, benchapp) and bench/ (benchkit) must both be importable.
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ.setdefault("BENCH_SYSTEM", "dlq")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dlq_settings")

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
