"""A stand-in "dlq" that is upstream under dlq's names, for an A/A run of the harness.

`bench/setup.sh --aa` puts this directory on the path of bench/.venv-aa (upstream's pins,
Python 3.11) and `python3 bench/run.py --aa` benchmarks it as the dlq side. Both sides then
run the same code, so every ratio away from 1.00x is the machine's noise, not a finding.
"""

from django_lightweight_queue import task

__all__ = ["task"]
