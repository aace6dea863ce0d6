"""Benchmarks of the database backend against django-tasks-db's ``db_worker``.

See ``bench/README.md``, section "Database backends". ``bench/db_run.py`` runs them.
"""
