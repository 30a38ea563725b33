#!/usr/bin/env bash
# The Celeriac benchmark (issue #6): publishes the driver build/bench/Bench (drive mode: the measured client, which also
# runs during the worker's drain) and the worker build/bench/BenchWorker as Native AOT binaries, the product's
# deployment form (samples/AotClient, samples/AotWorker; both use the tasks of build/bench/BenchTasks), starts its own
# redis-server on a free loopback port (no persistence), runs W1 (single enqueue, bulk enqueue, one worker process
# drains) and W2 (sequential round trips on a fresh worker) plus an allocation probe, prints one table and writes
# .tmp/bench/results.json (config.driver_runtime and config.worker_runtime say "aot" or "jit").
#
# Usage: build/bench/run.sh [--quick] [--runs 3] [--n 20000] [--concurrency 512] [--prefetch 512] [--round-trips 1000]
#                           [--bulk-batch N] [--probe N] [--track-started true] [--out FILE] [--label TEXT]
#        build/bench/run.sh --jit-driver [...]     the driver (and so the measured client) under the JIT (dotnet build,
#                                                  run by its apphost) instead of the Native AOT binary: to compare
#        build/bench/run.sh --jit-worker [...]     the worker under the JIT (dotnet build, run as `dotnet <dll>`) instead
#                                                  of the Native AOT binary: to compare the two runtimes
#        build/bench/run.sh --ref <commit> [...]   benchmark the src/ of another commit (exported to .tmp/bench/tree-<sha>;
#                                                  this bench program, build/bench/{Bench,BenchTasks,BenchWorker}, is
#                                                  copied next to it): A/B without touching the tree
#        build/bench/run.sh flow [--n 10000] [--runs 3] [--round-trips 300]   the workflow bench: a chord of N no-op
#                                                  members beside the plain drain of N (same worker, alternating), and a
#                                                  3-step chain's round trip beside a single task's
#        build/bench/run.sh cpu [--n 10000] [--concurrency 16]   W3: N tasks of 1 ms CPU each (calibrated here), run as
#                                                  TaskExecution.Cpu and as Pool: drain time beside the ideal N x 1 ms / cores,
#                                                  with the worker's, Redis's and the driver's CPU (docs/performance.md, W3)
#        build/bench/run.sh mixed [--round-trips 300] [--backlog 2000] [--concurrency 64]   sequential I/O round trips alone
#                                                  and beside a backlog of 1 ms CPU tasks (Cpu, Pool, Cpu in a pool of their own)
#        build/bench/run.sh micro [BenchmarkDotNet args, e.g. --filter '*Envelope*']   the micro-benchmarks (a few minutes;
#                                                  always under the JIT: BenchmarkDotNet is not trimmable)
# CELERIAC_BENCH_PERF=<dir> runs every worker under `perf record` (hot spots only: its CPU figures are then perf's).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh

out="$root/.tmp/bench"
mkdir -p "$out"
mode=drive
if [ "${1:-}" = "micro" ]; then mode=micro; shift; fi
if [ "${1:-}" = "flow" ]; then mode=flow; shift; fi
if [ "${1:-}" = "cpu" ]; then mode=cpu; shift; fi
if [ "${1:-}" = "mixed" ]; then mode=mixed; shift; fi

tree="$root"
drive_only=false
worker_runtime=aot
driver_runtime=aot
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
      # Today's bench program (driver, tasks, worker) over that commit's src/.
      for project in Bench BenchTasks BenchWorker; do
        rm -rf "$tree/build/bench/$project"; mkdir -p "$tree/build/bench/$project"
        (cd "$root/build/bench/$project" && find . -maxdepth 1 -type f \( -name '*.cs' -o -name '*.csproj' \) -exec cp {} "$tree/build/bench/$project/" \;)
      done
      drive_only=true
      if [ "$mode" = drive ]; then args+=(--label "$sha"); fi;;
    --jit-worker) worker_runtime=jit; shift;;
    --jit-driver) driver_runtime=jit; shift;;
    *) args+=("$1"); shift;;
  esac
done

# The driver. Drive mode leaves the micro-benchmarks out (CeleriacBenchMicro=false): they use Celeriac.Runtime's
# internals as of today, and without them the driver builds over an older commit's src/ too (--ref). Without them (and
# BenchmarkDotNet) the project sets PublishAot, so drive mode is published Native AOT (as a Celeriac client ships), or
# built for the JIT with --jit-driver (CeleriacBenchDriverJit=true leaves PublishAot and its feature switches out).
# Micro mode always runs under the JIT.
bench_project="$tree/build/bench/Bench/Celeriac.Bench.csproj"
started=$SECONDS
if [ "$mode" = micro ]; then
  echo "bench: building $bench_project (Release, micro-benchmarks)" >&2
  dotnet build "$bench_project" -c Release -nologo -clp:ErrorsOnly -p:CeleriacBenchMicro=true -o "$out/bin-$(basename "$tree")" >&2
  cd "$out"
  exec env DOTNET_gcServer=0 "$out/bin-$(basename "$tree")/Celeriac.Bench" micro --artifacts "$out/micro" "${args[@]}"
fi
if [ "$driver_runtime" = aot ]; then
  driver_out="$out/driver-aot-$(basename "$tree")"
  echo "bench: publishing $bench_project (Native AOT, linux-x64)" >&2
  dotnet publish "$bench_project" -c Release -r linux-x64 -nologo -clp:ErrorsOnly -p:CeleriacBenchMicro=false -p:CeleriacBenchDriveOnly=$drive_only -o "$driver_out" >&2
  driver=("$driver_out/Celeriac.Bench")
else
  driver_out="$out/driver-jit-$(basename "$tree")"
  echo "bench: building $bench_project (Release, JIT)" >&2
  dotnet build "$bench_project" -c Release -nologo -clp:ErrorsOnly -p:CeleriacBenchMicro=false -p:CeleriacBenchDriveOnly=$drive_only -p:CeleriacBenchDriverJit=true \
    -o "$driver_out" >&2
  driver=("$driver_out/Celeriac.Bench")
fi
echo "bench: driver ($driver_runtime) ${driver[*]} ready in $((SECONDS - started)) s" >&2

# The worker: Native AOT by default (PublishAot is in its project file, so it does not leak into the generator
# project), or the JIT build with --jit-worker. One build at a time: the driver's build above has finished.
worker_project="$tree/build/bench/BenchWorker/Celeriac.BenchWorker.csproj"
worker_out="$out/worker-$worker_runtime-$(basename "$tree")"
started=$SECONDS
if [ "$worker_runtime" = aot ]; then
  echo "bench: publishing $worker_project (Native AOT, linux-x64)" >&2
  dotnet publish "$worker_project" -c Release -r linux-x64 -nologo -clp:ErrorsOnly -p:CeleriacBenchDriveOnly=$drive_only -o "$worker_out" >&2
  worker_bin="$worker_out/Celeriac.BenchWorker"
else
  echo "bench: building $worker_project (Release, JIT)" >&2
  dotnet build "$worker_project" -c Release -nologo -clp:ErrorsOnly -p:CeleriacBenchDriveOnly=$drive_only -o "$worker_out" >&2
  worker_bin="$worker_out/Celeriac.BenchWorker.dll"
fi
echo "bench: worker ($worker_runtime) $worker_bin ready in $((SECONDS - started)) s" >&2

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
# Worker children are $worker_bin; they exit when the driver's pipe to them closes.
if [ "$mode" = cpu ] || [ "$mode" = mixed ]; then
  DOTNET_gcServer=0 "${driver[@]}" "$mode" --redis "127.0.0.1:$port" --worker-log "$out/worker.log" --worker-bin "$worker_bin" "${args[@]}" &
elif [ "$mode" = flow ]; then
  DOTNET_gcServer=0 "${driver[@]}" flow --redis "127.0.0.1:$port" --worker-log "$out/worker.log" --worker-bin "$worker_bin" "${args[@]}" &
else
  DOTNET_gcServer=0 "${driver[@]}" drive --redis "127.0.0.1:$port" --out "$out/results.json" --worker-log "$out/worker.log" \
    --worker-bin "$worker_bin" --worker-runtime "$worker_runtime" "${args[@]}" &
fi
driver_pid=$!
status=0
wait "$driver_pid" || status=$?
driver_pid=""
exit "$status"
