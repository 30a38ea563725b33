#!/usr/bin/env bash
# Redis helpers for build scripts: install when missing, start on a free loopback port, stop.
# Source it; every function prints only to stderr except where it returns a value on stdout.

celeriac_ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then return 0; fi
  echo "redis-server not found: installing it from the Debian packages (apt-get)..." >&2
  local sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >&2
  command -v redis-server >/dev/null 2>&1 || { echo "could not install redis-server" >&2; return 1; }
}

# Prints a loopback TCP port nothing listens on.
celeriac_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

# celeriac_start_redis DIR PORT: starts a throwaway redis-server (no persistence) and waits until it answers.
celeriac_start_redis() {
  local dir="$1" port="$2"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log" >&2
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "redis-server on port $port did not start; log:" >&2
  cat "$dir/redis-$port.log" >&2 || true
  return 1
}

# celeriac_stop_redis DIR PORT
celeriac_stop_redis() {
  local dir; dir=$(cd "$1" 2>/dev/null && pwd || echo "$1"); local port="$2" pidfile="$dir/redis-$2.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
