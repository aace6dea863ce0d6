#!/usr/bin/env bash
# Creates the two virtualenvs the benchmark harness runs in. Run by hand, never in CI.
#
#   bench/.venv-upstream  Python 3.11, django-lightweight-queue 4.11.0 (the reference), Django 4.2
#   bench/.venv-dlq       the SAME Python 3.11, dlq installed editable from this checkout, Django 5.2,
#                         and the django-tasks backport (Django's task API on dlq: db_measure's
#                         dlqapi system)
#   bench/.venv-tasksdb   the SAME Python 3.11, django-tasks-db (latest release) and the same
#                         Django 5.2 and psycopg, for bench/db_run.py (the database backends)
#
# Both venvs use one interpreter by default so that interpreter differences (start-up,
# memory, bytecode speed) do not pollute the dlq/upstream ratios; dlq supports 3.11+.
# PY_DLQ=/path/to/python3.12 bench/setup.sh gives dlq another Python on purpose (an existing
# venv made with a different Python is then recreated). The Djangos must differ: upstream
# 4.11.0 is known to run on Django 4.2 at most, dlq needs Django >= 5.2.
#
# Both get the SAME redis-py and hiredis, so the comparison measures the queue code and not
# the Redis client or its reply parser. Neither gets setproctitle: upstream calls it twice per
# job when it is importable, and dlq's is an optional extra; leaving both without it keeps the
# per-job work comparable.
#
# Re-running is cheap: an existing venv is reused and pip only installs what is missing.
# `setup.sh --aa` also makes bench/.venv-aa for an A/A run (see README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

PY_UPSTREAM="${PY_UPSTREAM:-/root/.pyenv/versions/3.11.7/bin/python3.11}"
PY_DLQ="${PY_DLQ:-$PY_UPSTREAM}"

# Upstream 4.11.0 declares only `django>=2.2`; 4.2 LTS is the newest line it is known to
# run on under Python 3.11 (verified end to end by this harness).
UPSTREAM_PINS=(
    "django-lightweight-queue[redis]==4.11.0"
    "Django==4.2.30"
    # The other reference, for the runner_drain_db_* scenarios: Dramatiq's own worker with
    # its Redis broker on the same Redis, beside upstream (neither imports the other).
    "dramatiq==2.2.1"
)
# dlq supports Django 5.2 LTS and 6.x; the LTS is pinned so that runs stay comparable.
DLQ_PINS=(
    "${DLQ_DJANGO:-Django==5.2.19}"
)
SHARED_PINS=(
    "redis==5.3.1"
    "hiredis==3.3.0"
    # The runner_drain_db_postgres scenarios: the database driver, and the harness's own
    # CREATE/DROP DATABASE.
    "psycopg[binary]==3.3.9"
)
# The database benchmarks (bench/db_run.py): django-tasks-db as released (its `compat` extra
# brings the django-tasks backport it needs on Django 5.2), against the same Django and
# PostgreSQL driver as dlq's venv.
TASKSDB_PINS=(
    "django-tasks-db[compat]"
    "${DLQ_DJANGO:-Django==5.2.19}"
)
DB_PINS=(
    "psycopg[binary]==3.3.9"
)

python_version() {
    "$1" -c 'import platform; print(platform.python_version())'
}

make_venv() {
    local python="$1" venv="$2"
    if [[ -x "$venv/bin/python" ]] \
        && [[ "$(python_version "$venv/bin/python")" != "$(python_version "$python")" ]]; then
        echo "== $venv has Python $(python_version "$venv/bin/python"), wanted" \
            "$(python_version "$python"): recreating it"
        rm -rf -- "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "== creating $venv with $python"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
}

make_venv "$PY_UPSTREAM" "$here/.venv-upstream"
echo "== installing upstream into .venv-upstream"
"$here/.venv-upstream/bin/python" -m pip install --quiet --disable-pip-version-check \
    "${UPSTREAM_PINS[@]}" "${SHARED_PINS[@]}"

make_venv "$PY_DLQ" "$here/.venv-dlq"
echo "== installing dlq (editable) into .venv-dlq"
# dlq may not be complete yet; a failed install is reported but does not stop the upstream
# side from being usable (run.py reports "dlq side failed: ..." in that case).
if ! "$here/.venv-dlq/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e "$repo[redis,postgres,django-tasks]" "${DLQ_PINS[@]}" "${SHARED_PINS[@]}" "${DB_PINS[@]}"; then
    echo "!! dlq install failed; run 'python3 bench/run.py --only upstream' meanwhile" >&2
fi

make_venv "$PY_DLQ" "$here/.venv-tasksdb"
echo "== installing django-tasks-db (latest release) into .venv-tasksdb"
"$here/.venv-tasksdb/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
    "${TASKSDB_PINS[@]}" "${DB_PINS[@]}"

venvs=(.venv-upstream .venv-dlq .venv-tasksdb)
if [[ "${1:-}" == "--aa" ]]; then
    # A/A calibration: upstream again, with aa_standin/ (a "dlq" that is upstream) on its
    # path. `python3 bench/run.py --aa` then compares upstream with itself.
    make_venv "$PY_UPSTREAM" "$here/.venv-aa"
    echo "== installing upstream + the A/A stand-in into .venv-aa"
    "$here/.venv-aa/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${UPSTREAM_PINS[@]}" "${SHARED_PINS[@]}"
    site="$("$here/.venv-aa/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    echo "$here/aa_standin" > "$site/dlq_aa_standin.pth"
    venvs+=(.venv-aa)
fi

for venv in "${venvs[@]}"; do
    echo "== $venv:"
    "$here/$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
        | grep -iE '^(django|django-lightweight-queue|django-tasks|django-tasks-db|dlq|dramatiq|psycopg|redis|hiredis|pydantic) ' || true
done
