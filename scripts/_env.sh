# Shared by scripts/test and scripts/demo: find Pythons, make virtual environments, start Redis.
# shellcheck shell=bash

# find_python 3.12 3.13 ... -> the first interpreter of those versions that runs
find_python() {
  local version candidate
  for version in "$@"; do
    for candidate in "$HOME"/.pyenv/versions/"$version"*/bin/python"$version" \
                     "/usr/local/bin/python$version" "/usr/bin/python$version" "python$version"; do
      if [ -x "$(command -v "$candidate" 2>/dev/null)" ] && "$candidate" -c 'import sys' 2>/dev/null; then
        command -v "$candidate"
        return 0
      fi
    done
  done
  return 1
}

# make_venv DIR PYTHON PIP-ARGS... -> DIR holds a venv with the project installed (editable)
make_venv() {
  local dir=$1 python=$2
  shift 2
  local stamp
  stamp=$(cat pyproject.toml "$@" 2>/dev/null | sha256sum | cut -c1-16; echo "$*")
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "==> creating $dir with $python" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip >&2
  "$dir/bin/python" -m pip install --quiet "$@" >&2
  echo "$stamp" > "$dir/.stamp"
}

redis_answers() {
  "${1:-python3}" - "$2" <<'PY' 2>/dev/null
import socket, sys
port = int(sys.argv[1])
try:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

# ensure_redis PYTHON: a Redis server answers on 127.0.0.1:6379 afterwards, or we fail saying why
ensure_redis() {
  local python=$1
  redis_answers "$python" 6379 && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing redis-server" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
    else
      echo "Redis is needed on 127.0.0.1:6379 and redis-server is not installed:" >&2
      echo "  sudo apt-get install redis-server   (or: brew install redis)" >&2
      return 1
    fi
  fi
  echo "==> starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/dlq-redis.log >&2
  for _ in $(seq 50); do redis_answers "$python" 6379 && return 0; sleep 0.1; done
  echo "redis-server did not answer on 127.0.0.1:6379; see /tmp/dlq-redis.log" >&2
  return 1
}

port_answers() {  # port_answers PORT: something accepts TCP connections on 127.0.0.1:PORT
  "${PYTHON_FOR_PROBES:-python3}" - "$1" <<'PY' 2>/dev/null
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

# can_install: true when we may install Debian packages (root, with apt-get)
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  echo "==> installing $*" >&2
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq >&2; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# ensure_mysqlclient_build_deps: the headers mysqlclient (dlq[mysql]) compiles against
ensure_mysqlclient_build_deps() {
  if pkg-config --exists mariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; then
    return 0
  fi
  if can_install; then
    apt_install libmariadb-dev pkg-config
  else
    echo "mysqlclient needs the MariaDB/MySQL client headers and pkg-config:" >&2
    echo "  sudo apt-get install libmariadb-dev pkg-config" >&2
    return 1
  fi
}

# ensure_postgres: PostgreSQL answers on 127.0.0.1:5432 (trust auth for local TCP), or we say why
ensure_postgres() {
  port_answers 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    can_install || { echo "PostgreSQL is needed on 127.0.0.1:5432 (sudo apt-get install postgresql)" >&2; return 1; }
    apt_install postgresql
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  echo "==> starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  for _ in $(seq 100); do port_answers 5432 && return 0; sleep 0.1; done
  echo "PostgreSQL did not answer on 127.0.0.1:5432" >&2
  return 1
}

# ensure_mariadb: MariaDB answers on 127.0.0.1:3306 (root, empty password), or we say why
ensure_mariadb() {
  port_answers 3306 && return 0
  if [ ! -x /usr/sbin/mariadbd ]; then
    can_install || { echo "MariaDB is needed on 127.0.0.1:3306 (sudo apt-get install mariadb-server)" >&2; return 1; }
    apt_install mariadb-server
    local fresh=1
  fi
  echo "==> starting MariaDB" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2
  for _ in $(seq 100); do port_answers 3306 && break; sleep 0.1; done
  if [ -n "${fresh:-}" ]; then  # root over TCP with an empty password, as the tests expect
    mariadb -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; CREATE DATABASE IF NOT EXISTS test" >&2
  fi
  port_answers 3306 && return 0
  echo "MariaDB did not answer on 127.0.0.1:3306" >&2
  return 1
}

# ensure_sentinel: redis-sentinel is installed afterwards (the Sentinel tests start their own
# sentinels on free ports), or we say why not; without it those tests fall back to
# "redis-server --sentinel", the same program
ensure_sentinel() {
  command -v redis-sentinel >/dev/null 2>&1 && return 0
  if can_install; then
    apt_install redis-sentinel \
      || echo "could not install redis-sentinel; the Sentinel tests use redis-server --sentinel" >&2
  else
    echo "redis-sentinel is not installed; the Sentinel tests use redis-server --sentinel:" >&2
    echo "  sudo apt-get install redis-sentinel   (or: brew install redis)" >&2
  fi
  return 0
}

# ensure_chromium: Debian's Chromium at /usr/bin/chromium, for the dashboard's browser tests
# (Playwright drives it; it never downloads a browser of its own). Without it and without
# root, say so and go on: those tests skip locally (and fail under CI=true).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if can_install; then
    apt_install chromium
  else
    echo "The dashboard's browser tests need Chromium (sudo apt-get install chromium);" >&2
    echo "without it they are skipped." >&2
  fi
}
