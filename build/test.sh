#!/usr/bin/env bash
# The one test command. Installs redis-server when missing, starts its own on a free loopback port, builds the
# solution, runs every test project against it, stops what it started (also on failure or Ctrl-C), and ends with
# the line "N passed, N failed". Exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh

work="$root/.tmp/test"
rm -rf "$work"; mkdir -p "$work/results"
port=""
cleanup() {
  if [ -n "$port" ]; then celeriac_stop_redis "$work/redis" "$port"; fi
  # Worker processes started by the integration tests are killed by the tests; this is the safety net.
  pkill -f "$root/tests/.*/bin/.*TestWorker" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

celeriac_ensure_redis || { echo "0 passed, 1 failed"; exit 1; }
port=$(celeriac_free_port)
celeriac_start_redis "$work/redis" "$port" || { echo "0 passed, 1 failed"; exit 1; }
export CELERIAC_TEST_REDIS="127.0.0.1:$port"
export CELERIAC_REDIS_SERVER="$(command -v redis-server)"
echo "redis-server $(redis-server --version | awk '{print $3}') on $CELERIAC_TEST_REDIS"

if ! dotnet build Celeriac.slnx -c Release -nologo -clp:ErrorsOnly; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  grep -q 'Microsoft.NET.Test.Sdk' "$project" || continue
  echo "== $name"
  dotnet test "$project" -c Release --no-build -nologo --logger "trx;LogFileName=$name.trx" \
    --results-directory "$work/results" -- RunConfiguration.TestSessionTimeout=1200000 || status=1
done

passed=0; failed=0
for trx in "$work"/results/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  f=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
