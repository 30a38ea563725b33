#!/usr/bin/env bash
# The long fuzz run: builds tests/Fuzz (and the worker it runs), starts its own redis-server on a free loopback port,
# fuzzes a real worker process for N minutes, stops what it started, and prints what it tried per category, the
# outcomes, peak memory and every broken invariant. Failures are saved as reproducer files under .tmp/fuzz/.
#   build/fuzz.sh [--minutes N] [--seed N] [any other Celeriac.Fuzz option, e.g. --skip corrupt-hash]
#   build/fuzz.sh --replay .tmp/fuzz/<run>/settled-....json     (runs saved reproducers again)
# Exit code 0 when every invariant held.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh

minutes=10
seed=$(date +%s)
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done

work="$root/.tmp/fuzz/seed-$seed"
mkdir -p "$work"
port=""
cleanup() { if [ -n "$port" ]; then celeriac_stop_redis "$work/redis" "$port"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

celeriac_ensure_redis || exit 1
dotnet build tests/Fuzz -c Release -nologo -clp:ErrorsOnly || { echo "build failed"; exit 1; }
port=$(celeriac_free_port)
celeriac_start_redis "$work/redis" "$port" || exit 1
echo "fuzzing for $minutes min, seed $seed, redis-server on 127.0.0.1:$port; reproducers in $work"
dotnet tests/Fuzz/bin/Release/net10.0/Celeriac.Fuzz.dll --redis "127.0.0.1:$port" --seed "$seed" --minutes "$minutes" \
  --out "$work" "${rest[@]}"
