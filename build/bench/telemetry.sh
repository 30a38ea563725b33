#!/usr/bin/env bash
# The cost of Celeriac's telemetry (docs/observability.md): builds build/bench/Bench for the JIT, starts its own
# redis-server on a free loopback port (no persistence), and runs `Celeriac.Bench telemetry`: the telemetry hooks'
# allocations and time per task with nobody listening and with listeners on, then the drain rate of an in-process
# worker with the listeners off and on, interleaved in the same run.
# Usage: build/bench/telemetry.sh [--n 20000] [--rounds 3] [--concurrency 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh
out="$root/.tmp/bench-telemetry"
mkdir -p "$out"
# The JIT build with the micro-benchmarks, as `run.sh micro` makes it: the telemetry bench uses the runtime's internals.
dotnet build build/bench/Bench/Celeriac.Bench.csproj -c Release -nologo -clp:ErrorsOnly -p:CeleriacBenchMicro=true -o "$out/bin" >&2
celeriac_ensure_redis
port=$(celeriac_free_port)
cleanup() { celeriac_stop_redis "$out/redis" "$port"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
celeriac_start_redis "$out/redis" "$port"
DOTNET_gcServer=0 "$out/bin/Celeriac.Bench" telemetry --redis "127.0.0.1:$port" "$@"
