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
aot_worker_pid=""
# The redis-servers of the Cluster, Sentinel, TLS and ACL fixtures and the worker processes are stopped by the tests
# that start them; this is the safety net for a test host that crashed or was killed before it could (its children
# are then orphans that nothing else stops). The test hosts run with TMPDIR in this run's directory, where every
# fixture makes its server's --dir (redis-server rewrites its environment for its process title, so its working
# directory is what marks it); worker processes carry the marker in their environment.
export CELERIAC_TEST_RUN="test-$$-$(date +%s%N)"
mkdir -p "$work/tmp"
kill_leftovers() {
  local pid name
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$pid" = "$$" ] && continue
    name=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case "$name" in
      redis-server|redis-sentinel) [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$work/tmp/"* ]] || continue;;
      dotnet|celeriac-*|Celeriac.*)
        grep -qzx "CELERIAC_TEST_RUN=$CELERIAC_TEST_RUN" "/proc/$pid/environ" 2>/dev/null || continue
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "TestWorker\|Celeriac.Fuzz\|celeriac-aot" || continue;;
      *) continue;;
    esac
    kill -9 "$pid" 2>/dev/null && echo "cleanup: stopped a leftover $name (pid $pid) started by this run"
  done
}
cleanup() {
  if [ -n "$aot_worker_pid" ]; then kill "$aot_worker_pid" 2>/dev/null || true; fi
  if [ -n "$port" ]; then celeriac_stop_redis "$work/redis" "$port"; fi
  kill_leftovers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Snapshot tests overwrite their snapshots and pass when this is set: the test command must never accept them.
if [ -n "${CELERIAC_ACCEPT_SNAPSHOTS:-}" ]; then
  echo "CELERIAC_ACCEPT_SNAPSHOTS is set: the test command never accepts generator snapshots (every snapshot test would pass). Accept them with 'CELERIAC_ACCEPT_SNAPSHOTS=1 dotnet test tests/GeneratorTests', review the diff, then run this without it."
  echo "0 passed, 1 failed"
  exit 1
fi
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

# CELERIAC_TEST_REPEAT=N runs the test projects N times in a row (one build; the stages below once): how the suite is
# shown stable on a machine. Each pass prints its own tally and wall time; the last line counts them all.
repeat=${CELERIAC_TEST_REPEAT:-1}
case "$repeat" in ''|*[!0-9]*|0) echo "CELERIAC_TEST_REPEAT must be a positive number, not '$repeat'"; echo "0 passed, 1 failed"; exit 1;; esac
status=0
for ((pass = 1; pass <= repeat; pass++)); do
  results="$work/results"; [ "$repeat" -gt 1 ] && results="$work/results/pass-$pass"
  started=$(date +%s)
  label=""; [ "$repeat" -gt 1 ] && label=" (pass $pass of $repeat)"
  pass_status=0
  for project in tests/*/*.csproj; do
    name=$(basename "$project" .csproj)
    grep -q 'Microsoft.NET.Test.Sdk' "$project" || continue
    echo "== $name$label"
    TMPDIR="$work/tmp" dotnet test "$project" -c Release --no-build -nologo --logger "trx;LogFileName=$name.trx" \
      --results-directory "$results" -- RunConfiguration.TestSessionTimeout=1200000 || { status=1; pass_status=1; }
  done
  if [ "$repeat" -gt 1 ]; then
    p=0; f=0
    for trx in "$results"/*.trx; do
      [ -f "$trx" ] || continue
      counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
      p=$((p + $(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters"))); f=$((f + $(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")))
    done
    aborted=""; [ "$pass_status" -ne 0 ] && [ "$f" -eq 0 ] && { f=1; aborted=" (a test run was aborted: its host crashed or timed out)"; }
    echo "pass $pass of $repeat: $p passed, $f failed in $(( $(date +%s) - started )) s$aborted" | tee -a "$work/passes.txt"
  fi
done

# The fuzzer (tests/Fuzz, docs/reliability.md §8), bounded and seeded: 20,000 hostile and valid messages written
# straight into a queue of this run's redis-server, a real worker process, every invariant checked. One test in the tally.
fuzz_passed=0; fuzz_failed=0
echo "== Fuzz (seed 17, 20,000 messages)"
if timeout 900 dotnet tests/Fuzz/bin/Release/net10.0/Celeriac.Fuzz.dll --redis "$CELERIAC_TEST_REDIS" --seed 17 --messages 20000 --out "$work/fuzz" >"$work/fuzz.log" 2>&1; then
  fuzz_passed=1
else
  fuzz_failed=1
fi
sed -n '/^== celeriac-fuzz/,$p' "$work/fuzz.log" | grep -v '^ *[0-9]* × ' ; grep -m 20 '^ *[0-9]* × ' "$work/fuzz.log" || true

# Native AOT: publish the worker and the client once (trim/AOT warnings are errors in both projects), run the
# native worker against this run's redis-server and let the native client send 1,000 tasks of several signatures.
aot_passed=0; aot_failed=0
echo "== Native AOT worker end to end"
aot="$work/aot"
# (-p:PublishAot=true as a user would type it, though the project sets it: the global property must not reach the generator.)
if dotnet publish samples/AotWorker -r linux-x64 -c Release -p:PublishAot=true -nologo -clp:ErrorsOnly -o "$aot/worker" >"$work/aot-publish.log" 2>&1 \
  && dotnet publish samples/AotClient -r linux-x64 -c Release -nologo -clp:ErrorsOnly -o "$aot/client" >>"$work/aot-publish.log" 2>&1; then
  Celeriac__Redis="$CELERIAC_TEST_REDIS" Celeriac__KeyPrefix=aot-e2e Celeriac__Worker__Queues__0=default \
    Celeriac__Worker__Queues__1=billing Celeriac__Worker__Concurrency=8 "$aot/worker/celeriac-aot-worker" >"$work/aot-worker.log" 2>&1 &
  aot_worker_pid=$!
  for _ in $(seq 1 200); do grep -q READY "$work/aot-worker.log" && break; sleep 0.05; done
  grep READY "$work/aot-worker.log" || true
  if "$aot/client/celeriac-aot-client" --redis "$CELERIAC_TEST_REDIS" --prefix aot-e2e --count 1000; then
    aot_passed=1
    echo "native worker binary: $(stat -c %s "$aot/worker/celeriac-aot-worker") bytes"
  else
    aot_failed=1; echo "AOT end-to-end FAILED; worker log tail:"; tail -20 "$work/aot-worker.log"
  fi
  kill "$aot_worker_pid" 2>/dev/null; wait "$aot_worker_pid" 2>/dev/null; aot_worker_pid=""
  # Supervised under AOT (Celeriac:Worker:Processes=2): the native binary starts two copies of itself; a SIGKILLed child
  # is replaced; the children serve the native client; SIGTERM to the supervisor stops them all and it exits 0.
  sup_problem=""
  Celeriac__Redis="$CELERIAC_TEST_REDIS" Celeriac__KeyPrefix=aot-sup Celeriac__Worker__Queues__0=default \
    Celeriac__Worker__Queues__1=billing Celeriac__Worker__Concurrency=8 Celeriac__Worker__Processes=2 "$aot/worker/celeriac-aot-worker" >"$work/aot-sup.log" 2>&1 &
  aot_worker_pid=$!
  for _ in $(seq 1 200); do [ "$(grep -c READY "$work/aot-sup.log")" -ge 3 ] && break; sleep 0.05; done
  sup_children=$(pgrep -P "$aot_worker_pid" | sort)
  [ "$(echo "$sup_children" | grep -c .)" = 2 ] || sup_problem="$sup_problem; not 2 children: [$sup_children]"
  victim=$(echo "$sup_children" | head -1)
  [ -n "$victim" ] && kill -9 "$victim"
  replaced_ms=""
  for i in $(seq 1 200); do
    now_children=$(pgrep -P "$aot_worker_pid" | sort)
    if [ "$(echo "$now_children" | grep -c .)" = 2 ] && ! echo "$now_children" | grep -qx "$victim"; then replaced_ms=$((i * 50)); break; fi
    sleep 0.05
  done
  [ -n "$replaced_ms" ] || sup_problem="$sup_problem; SIGKILLed child $victim not replaced within 10 s"
  "$aot/client/celeriac-aot-client" --redis "$CELERIAC_TEST_REDIS" --prefix aot-sup --count 200 >"$work/aot-sup-client.log" 2>&1 || sup_problem="$sup_problem; the client failed: $(tail -3 "$work/aot-sup-client.log")"
  all_children=$(pgrep -P "$aot_worker_pid")
  kill -TERM "$aot_worker_pid"; wait "$aot_worker_pid"; sup_rc=$?; aot_worker_pid=""
  [ "$sup_rc" = 0 ] || sup_problem="$sup_problem; the supervisor exited with $sup_rc after SIGTERM"
  for child in $all_children; do [ -d "/proc/$child" ] && [ "$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null)" != Z ] && sup_problem="$sup_problem; child $child still runs"; done
  if [ -z "$sup_problem" ]; then
    aot_passed=$((aot_passed + 1)); echo "supervised native worker: 2 children, a SIGKILLed one replaced in ~${replaced_ms} ms, 200 tasks served, SIGTERM -> exit 0 and no child left"
  else
    aot_failed=$((aot_failed + 1)); echo "supervised native worker FAILED:${sup_problem}"; tail -20 "$work/aot-sup.log"
  fi
  # Options bound and validated under AOT: a bad setting stops the native worker at start, naming the setting.
  if Celeriac__Redis="$CELERIAC_TEST_REDIS" Celeriac__Worker__Concurrency=0 timeout 20 "$aot/worker/celeriac-aot-worker" >"$work/aot-badconfig.log" 2>&1; then
    aot_failed=$((aot_failed + 1)); echo "the native worker started with Concurrency=0"
  elif grep -q "Concurrency must be at least 1" "$work/aot-badconfig.log"; then
    aot_passed=$((aot_passed + 1)); echo "bad configuration refused: $(grep -o 'Celeriac:Worker:Concurrency must be at least 1[^.]*' "$work/aot-badconfig.log" | head -1)"
  else
    aot_failed=$((aot_failed + 1)); echo "bad configuration: no clear message"; tail -5 "$work/aot-badconfig.log"
  fi
  # A worker listening on a queue no task assembly declares refuses to start, naming the declared ones.
  if Celeriac__Redis="$CELERIAC_TEST_REDIS" Celeriac__Worker__Queues__0=nope timeout 20 "$aot/worker/celeriac-aot-worker" >"$work/aot-badqueue.log" 2>&1; then
    aot_failed=$((aot_failed + 1)); echo "the native worker started on an undeclared queue"
  elif grep -q "no loaded task assembly declares" "$work/aot-badqueue.log"; then
    aot_passed=$((aot_passed + 1)); echo "undeclared queue refused: $(grep -o "celeriac-aot-worker: invalid configuration: .*" "$work/aot-badqueue.log" | head -1 | cut -c1-160)"
  else
    aot_failed=$((aot_failed + 1)); echo "undeclared queue: no clear message"; tail -5 "$work/aot-badqueue.log"
  fi
else
  aot_failed=1; echo "AOT publish FAILED:"; grep -E "error|warn" "$work/aot-publish.log" | head -30
fi

# The celeriac CLI as a Native AOT binary (trim/AOT warnings are errors in src/Cli), run against what the AOT stage left
# in this run's redis-server: its queues, one of its results (a success or an expected failure), and the exit codes of an unknown id and a wrong address.
# One test in the tally.
cli_passed=0; cli_failed=0
echo "== Native AOT celeriac CLI"
cli="$aot/cli/Celeriac.Cli"
if dotnet publish src/Cli -r linux-x64 -c Release -p:PublishAot=true -nologo -clp:ErrorsOnly -o "$aot/cli" >"$work/cli-publish.log" 2>&1; then
  cli_problem=""
  "$cli" --redis "$CELERIAC_TEST_REDIS" --prefix aot-e2e --json queues >"$work/cli-queues.json" 2>"$work/cli.err" || cli_problem="queues exited $?"
  grep -q '"queue": "billing"' "$work/cli-queues.json" || cli_problem="$cli_problem; queues did not list billing"
  some_id=$(redis-cli -p "${CELERIAC_TEST_REDIS##*:}" --scan --pattern 'aot-e2e:{default}:r:*' | head -1 | sed 's/.*:r://')
  if [ -z "$some_id" ]; then cli_problem="$cli_problem; no result of the AOT run to read"
  elif ! "$cli" --redis "$CELERIAC_TEST_REDIS" --prefix aot-e2e --json result "$some_id" >"$work/cli-result.json" 2>>"$work/cli.err" \
    || ! grep -qE '"state": "(SUCCESS|FAILURE)"' "$work/cli-result.json"; then cli_problem="$cli_problem; result $some_id is not a final state"; fi
  "$cli" --redis "$CELERIAC_TEST_REDIS" --prefix aot-e2e result no-such-task >/dev/null 2>>"$work/cli.err"; rc=$?
  [ "$rc" -eq 1 ] || cli_problem="$cli_problem; an unknown id exited $rc, not 1"
  closed=$(celeriac_free_port)
  "$cli" --redis "127.0.0.1:$closed,connectTimeout=2000" status >/dev/null 2>>"$work/cli.err"; rc=$?
  [ "$rc" -eq 3 ] || cli_problem="$cli_problem; a wrong address exited $rc, not 3"
  if [ -z "$cli_problem" ]; then
    cli_passed=1
    echo "native CLI binary: $(stat -c %s "$cli") bytes; queues, result $some_id ($(grep -oE '"state": "[A-Z]+"' "$work/cli-result.json" | cut -d'"' -f4)), unknown id (exit 1), wrong address (exit 3) ok"
  else
    cli_failed=1; echo "native CLI FAILED:$cli_problem"; tail -5 "$work/cli.err"
  fi
else
  cli_failed=1; echo "CLI AOT publish FAILED:"; grep -E "error|warn" "$work/cli-publish.log" | head -30
fi

# The README's first command, exactly as a newcomer types it (no setup: the in-process broker), and every line it
# promises. One test in the tally.
quick_passed=0; quick_failed=0
echo "== Quickstart (the README's first command)"
if (unset CELERIAC_REDIS; timeout 300 dotnet run --project samples/Quickstart) >"$work/quickstart.log" 2>&1 \
  && grep -q '^Add(4, 5) = 9 ' "$work/quickstart.log" && grep -q '^Greet = ' "$work/quickstart.log" \
  && grep -q '^MailTasks.Send wrote [0-9]* characters' "$work/quickstart.log" \
  && grep -q '^Divide(1, 0) failed remotely: System.DivideByZeroException' "$work/quickstart.log" \
  && grep -q '^Add(20, 22) with a 1 s countdown = 42 after' "$work/quickstart.log" \
  && grep -q 'state Success, value 9$' "$work/quickstart.log" && grep -q '^Done.$' "$work/quickstart.log"; then
  quick_passed=1; sed 's/^/  /' "$work/quickstart.log"
else
  quick_failed=1; echo "Quickstart FAILED; its output:"; tail -30 "$work/quickstart.log"
fi

# The newcomer's path from the packages: docs/getting-started.md's projects against a local feed, JIT and Native AOT.
echo "== Packages, templates and docs/getting-started.md"
build/package-test.sh 2>&1 | tee "$work/package-test.log"
read -r pkg_passed pkg_failed < <(tail -1 "$work/package-test.log" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p'; echo "0 1")

passed=$((aot_passed + cli_passed + pkg_passed + fuzz_passed + quick_passed)); failed=$((aot_failed + cli_failed + pkg_failed + fuzz_failed + quick_failed))
for trx in "$work"/results/*.trx "$work"/results/pass-*/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  f=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
