#!/usr/bin/env bash
# The cost of middleware and task events (docs/observability.md): builds build/bench/Bench for the JIT, starts its own
# redis-server on a free loopback port (no persistence), and runs `Celeriac.Bench events`: the middleware hooks'
# allocations and time per task with no middleware and with one no-op middleware, then the drain rate of an in-process
# worker with task events off and on, interleaved in the same run.
# Usage: build/bench/events.sh [--n 20000] [--rounds 3] [--concurrency 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh
out="$root/.tmp/bench-events"
mkdir -p "$out"
# The JIT build with the micro-benchmarks, as `run.sh micro` makes it: the events bench uses the runtime's internals.
dotnet build build/bench/Bench/Celeriac.Bench.csproj -c Release -nologo -clp:ErrorsOnly -p:CeleriacBenchMicro=true -o "$out/bin" >&2
celeriac_ensure_redis
port=$(celeriac_free_port)
cleanup() { celeriac_stop_redis "$out/redis" "$port"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
celeriac_start_redis "$out/redis" "$port"
DOTNET_gcServer=0 "$out/bin/Celeriac.Bench" events --redis "127.0.0.1:$port" "$@"
