#!/usr/bin/env bash
# The Celeriac benchmark (issue #6): builds build/bench/Bench in Release, starts its own redis-server on a free loopback
# port (no persistence), runs W1 (single enqueue, bulk enqueue, one worker process drains) and W2 (sequential round
# trips on a fresh worker) plus an allocation probe, prints one table and writes .tmp/bench/results.json.
#
# Usage: build/bench/run.sh [--quick] [--runs 3] [--n 20000] [--concurrency 64] [--prefetch 128] [--round-trips 1000]
#                           [--bulk-batch N] [--probe N] [--track-started false] [--out FILE] [--label TEXT]
#        build/bench/run.sh --ref <commit> [...]   benchmark the src/ of another commit (exported to .tmp/bench/tree-<sha>;
#                                                  this bench program is copied next to it): A/B without touching the tree
#        build/bench/run.sh micro [BenchmarkDotNet args, e.g. --filter '*Envelope*']   the micro-benchmarks (a few minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh

out="$root/.tmp/bench"
mkdir -p "$out"
mode=drive
if [ "${1:-}" = "micro" ]; then mode=micro; shift; fi

tree="$root"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ref)
      sha=$(git rev-parse --short "$2"); shift 2
      tree="$out/tree-$sha"
      if [ ! -d "$tree/src" ]; then
        mkdir -p "$tree"
        git archive "$sha" src Directory.Build.props Directory.Packages.props | tar -x -C "$tree"
      fi
      rm -rf "$tree/build/bench/Bench"; mkdir -p "$tree/build/bench/Bench"
      (cd "$root/build/bench/Bench" && find . -maxdepth 1 -type f \( -name '*.cs' -o -name '*.csproj' \) -exec cp {} "$tree/build/bench/Bench/" \;)
      if [ "$mode" = drive ]; then args+=(--label "$sha"); fi;;
    *) args+=("$1"); shift;;
  esac
done

echo "bench: building $tree/build/bench/Bench (Release)" >&2
dotnet build "$tree/build/bench/Bench/Celeriac.Bench.csproj" -c Release -nologo -clp:ErrorsOnly -o "$out/bin-$(basename "$tree")" >&2
bench="$out/bin-$(basename "$tree")/Celeriac.Bench"

if [ "$mode" = "micro" ]; then
  cd "$out"
  exec env DOTNET_gcServer=0 "$bench" micro --artifacts "$out/micro" "${args[@]}"
fi

celeriac_ensure_redis
port=$(celeriac_free_port)
driver_pid=""
cleanup() {
  if [ -n "$driver_pid" ]; then kill "$driver_pid" 2>/dev/null || true; fi
  celeriac_stop_redis "$out/redis" "$port"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
celeriac_start_redis "$out/redis" "$port"
echo "bench: redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port" >&2
: > "$out/worker.log"
# Worker children are this binary in worker mode; they exit when the driver's pipe to them closes.
DOTNET_gcServer=0 "$bench" drive --redis "127.0.0.1:$port" --out "$out/results.json" --worker-log "$out/worker.log" "${args[@]}" &
driver_pid=$!
status=0
wait "$driver_pid" || status=$?
driver_pid=""
exit "$status"
