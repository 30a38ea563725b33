#!/usr/bin/env bash
# Prints JIT vs Native AOT figures for the sample worker: binary size, exec -> READY, exec -> first task completed,
# idle RSS, RSS after 10,000 tasks. Starts its own redis-server on a free loopback port (no persistence).
# Usage: build/bench/aot-figures.sh   (publishes the AOT worker and client first; takes ~3 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
source build/redis.sh
out=.tmp/bench-aot; rm -rf "$out"; mkdir -p "$out"
celeriac_ensure_redis
port=$(celeriac_free_port); celeriac_start_redis "$out/redis" "$port"
trap 'pkill -f celeriac-aot-worker 2>/dev/null || true; celeriac_stop_redis "$out/redis" "$port"' EXIT
redis="127.0.0.1:$port"
dotnet publish samples/AotWorker -r linux-x64 -c Release -nologo -clp:ErrorsOnly -o "$out/aot" >/dev/null
dotnet publish samples/AotClient -r linux-x64 -c Release -nologo -clp:ErrorsOnly -o "$out/client" >/dev/null
dotnet build samples/AotWorker -c Release -nologo -clp:ErrorsOnly -o "$out/jit" >/dev/null
client="$out/client/celeriac-aot-client"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
measure() { # name, command...
  local name="$1"; shift
  local prefix="bench-$name-$RANDOM"
  # One task waits in the queue before the worker exists: exec -> that task completed.
  "$client" --redis "$redis" --prefix "$prefix" --count 1 >"$out/$name-first.log" 2>&1 &
  local client_pid=$!
  sleep 0.5
  local t0; t0=$(date +%s%N)
  Celeriac__Redis="$redis" Celeriac__KeyPrefix="$prefix" Celeriac__Worker__Queues__0=default Celeriac__Worker__Queues__1=billing \
    Celeriac__Worker__Concurrency=8 "$@" >"$out/$name-worker.log" 2>&1 &
  local pid=$!
  wait "$client_pid"; local t1; t1=$(date +%s%N)
  for _ in $(seq 1 200); do grep -q READY "$out/$name-worker.log" && break; sleep 0.02; done
  sleep 1; local idle; idle=$(rss_kb "$pid")
  "$client" --redis "$redis" --prefix "$prefix" --count 10000 >"$out/$name-10k.log"
  local after; after=$(rss_kb "$pid"); local peak; peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '| %s | %s | %s | %.0f ms | %.1f MB | %.1f MB (peak %.1f MB) | %s |\n' "$name" "$size" \
    "$(grep -o 'READY in [0-9.]* ms' "$out/$name-worker.log" | awk '{print $3" ms"}')" "$(( (t1 - t0) / 1000000 ))" \
    "$(echo "$idle/1024" | bc -l)" "$(echo "$after/1024" | bc -l)" "$(echo "$peak/1024" | bc -l)" "$(grep -o 'in [0-9]* ms$' "$out/$name-10k.log")"
}
echo "| build | size | exec -> READY (in-process) | exec -> first task done | idle RSS | RSS after 10,000 tasks | 10,000 mixed tasks |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
size="$(du -sh "$out/jit" | cut -f1) (folder, needs the .NET runtime)"
measure jit dotnet "$out/jit/celeriac-aot-worker.dll"
size="$(( $(stat -c %s "$out/aot/celeriac-aot-worker") / 1024 / 1024 )).$(( $(stat -c %s "$out/aot/celeriac-aot-worker") % (1024*1024) * 10 / 1024 / 1024 )) MB (one file)"
measure aot "$out/aot/celeriac-aot-worker"
