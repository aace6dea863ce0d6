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

# ensure_sentinel: redis-sentinel is installed afterwards (the Sentinel tests start their own
# sentinels on free ports), or we say why not; without it those tests fall back to
# "redis-server --sentinel", the same program
ensure_sentinel() {
  command -v redis-sentinel >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing redis-sentinel" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel; } >&2 \
      || echo "could not install redis-sentinel; the Sentinel tests use redis-server --sentinel" >&2
  else
    echo "redis-sentinel is not installed; the Sentinel tests use redis-server --sentinel:" >&2
    echo "  sudo apt-get install redis-sentinel   (or: brew install redis)" >&2
  fi
  return 0
}
