#!/usr/bin/env bash
# The newcomer's path, checked from the packages: packs Celeriac into a local folder feed, builds the projects of
# docs/getting-started.md (every `<!-- snippet: PATH -->` block of the page, written to a fresh folder outside the
# repository) against that feed only (no project references into this repository), runs the worker under the JIT and
# then as a Native AOT binary against a redis-server with the page's client, and instantiates the dotnet new templates
# from the template package and builds them with warnings as errors.
# Uses $CELERIAC_TEST_REDIS when set (build/test.sh), otherwise starts its own redis-server. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=build/redis.sh
source build/redis.sh

work="$root/.tmp/package-test"
feed="$work/feed"
# A version no cache has seen: a stale package of the same version in ~/.nuget/packages is never used.
version="0.1.0-ci.$(date -u +%Y%m%d%H%M%S)"
consumer=$(mktemp -d /tmp/celeriac-consumer.XXXXXX)
rm -rf "$work"; mkdir -p "$feed"
passed=0; failed=0
worker_pid=""; own_port=""
# The page pins the day's third-party versions; this registry copy resolves some of their dependencies one patch up
# (NU1603, also silenced in this repository's Directory.Build.props). Every other warning fails the build.
build_flags=(-c Release -nologo -clp:ErrorsOnly -warnaserror -p:NoWarn=NU1603)

cleanup() {
  if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; fi
  if [ -n "$own_port" ]; then celeriac_stop_redis "$work/redis" "$own_port"; fi
  if [ -n "${template_home:-}" ]; then rm -rf "$template_home"; fi
  rm -rf "$consumer"
  local cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
  rm -rf "$cache/celeriac/$version" "$cache/celeriac.abstractions/$version" "$cache/celeriac.templates/$version" "$cache/celeriac.opentelemetry/$version"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; if [ -n "${2:-}" ] && [ -f "$2" ]; then tail -25 "$2"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ -z "${CELERIAC_TEST_REDIS:-}" ]; then
  celeriac_ensure_redis || { fail "redis-server"; finish; }
  own_port=$(celeriac_free_port)
  celeriac_start_redis "$work/redis" "$own_port" || { own_port=""; fail "redis-server"; finish; }
  CELERIAC_TEST_REDIS="127.0.0.1:$own_port"
fi

start=$(date +%s)
echo "== packages $version"
# The packable projects of Celeriac.slnx (what `dotnet pack` at the root produces), packed one by one: packing the
# solution would also rebuild every test and sample against the new version.
packed=1
for project in src/*/*.csproj; do
  dotnet pack "$project" -c Release -nologo -clp:ErrorsOnly -p:VersionSuffix="${version#0.1.0-}" -o "$feed" >>"$work/pack.log" 2>&1 || packed=0
done
if [ "$packed" = 1 ] && [ -f "$feed/Celeriac.$version.nupkg" ] && [ -f "$feed/Celeriac.Abstractions.$version.nupkg" ] \
  && [ -f "$feed/Celeriac.OpenTelemetry.$version.nupkg" ] \
  && unzip -l "$feed/Celeriac.Abstractions.$version.nupkg" >"$work/abstractions.txt" && grep -q "analyzers/dotnet/cs/Celeriac.Generators.dll" "$work/abstractions.txt"; then
  pass "dotnet pack: $(cd "$feed" && ls ./*.nupkg | xargs -n1 basename | tr '\n' ' ')"
else
  fail "dotnet pack" "$work/pack.log"; finish
fi

# The consumer's nuget.config: the local feed added to the sources this machine's NuGet already uses (the user-level
# configuration), which serve every third-party package. The version above exists only in the local feed.
cat >"$consumer/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="celeriac-local" value="$feed" />
  </packageSources>
</configuration>
EOF

# snippets MARKER DIR: writes every fenced block of docs/getting-started.md preceded by <!-- MARKER: PATH --> to DIR/PATH.
snippets() {
  awk -v marker="$1" -v dir="$2" '
    $0 ~ "^<!-- " marker ": " { path = $3; want = 1; next }
    want && /^```/ && !inside { inside = 1; next }
    inside && /^```/ { inside = 0; want = 0; close(dir "/" path); count++; next }
    inside { file = dir "/" path; sub(/\/[^\/]*$/, "", file); system("mkdir -p \"" file "\""); print > (dir "/" path) }
    END { print count + 0 }' "$root/docs/getting-started.md"
}
pin_version() { sed -i -E "s/(Include=\"Celeriac\" Version=)\"[^\"]*\"/\1\"$version\"/" "$@"; }

echo "== docs/getting-started.md from the packages (in $consumer)"
count=$(snippets snippet "$consumer")
pin_version "$consumer"/*/*.csproj
cd "$consumer" || exit 1
if [ "$count" -ge 6 ] && dotnet build Hello.Client "${build_flags[@]}" >"$work/consumer-build.log" 2>&1 \
  && dotnet build Hello.Worker "${build_flags[@]}" >>"$work/consumer-build.log" 2>&1; then
  pass "the page's $count snippets build with zero warnings"
else
  fail "the page's snippets ($count) do not build" "$work/consumer-build.log"; cd "$root" || exit 1; finish
fi

# run_pair NAME WORKER_COMMAND...: the page's client against a worker started with the page's configuration.
run_pair() {
  local name="$1" db="$2"; shift 2
  local redis="$CELERIAC_TEST_REDIS,defaultDatabase=$db"
  Celeriac__Redis="$redis" "$@" >"$work/$name-worker.log" 2>&1 &
  worker_pid=$!
  if CELERIAC_REDIS="$redis" timeout 60 dotnet Hello.Client/bin/Release/net10.0/Hello.Client.dll >"$work/$name-client.log" 2>&1 \
    && grep -qx "Add(4, 5) = 9" "$work/$name-client.log" \
    && grep -qx "Greet = Hello, Celeriac! (16 characters)" "$work/$name-client.log"; then
    pass "$name worker ran the client's tasks: $(tr '\n' ' ' <"$work/$name-client.log")"
  else
    fail "$name worker and client" "$work/$name-client.log"; tail -15 "$work/$name-worker.log"
  fi
  kill "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; worker_pid=""
}

run_pair jit 3 dotnet Hello.Worker/bin/Release/net10.0/Hello.Worker.dll

# A worker with no Celeriac reference of its own, only its project reference to the tasks library (whose types its code
# never names): the generator reaches it through the library's package reference and registers the library's tasks.
sed -i '/Include="Celeriac"/d' Hello.Worker/Hello.Worker.csproj
if dotnet build Hello.Worker "${build_flags[@]}" >"$work/consumer-byref.log" 2>&1; then
  run_pair "tasks-library-reference-only" 5 dotnet Hello.Worker/bin/Release/net10.0/Hello.Worker.dll
else
  fail "the worker with only the tasks library's reference does not build" "$work/consumer-byref.log"
fi

# Native AOT: the page's AOT project file. ILC's one-line summaries for MessagePack (IL2104/IL3053, see docs/aot.md) are
# the only warnings allowed; any other trim/AOT warning fails.
aot_count=$(snippets snippet-aot "$consumer")
pin_version Hello.Worker/Hello.Worker.csproj
# A native binary: no IL assembly of the worker next to it.
if [ "$aot_count" -ge 1 ] && dotnet publish Hello.Worker -c Release -r linux-x64 -nologo -o out/worker >"$work/consumer-aot.log" 2>&1 \
  && [ -x out/worker/Hello.Worker ] && [ ! -f out/worker/Hello.Worker.dll ]; then
  others=$(grep -E "warning" "$work/consumer-aot.log" | grep -vE "warning (IL2104|IL3053|NU1603)" | sort -u)
  if [ -z "$others" ]; then
    pass "Native AOT worker published from the packages ($(stat -c %s out/worker/Hello.Worker) bytes)"
    run_pair aot 4 ./out/worker/Hello.Worker
  else
    fail "Native AOT publish warnings: $others"
  fi
else
  fail "Native AOT publish" "$work/consumer-aot.log"
fi
cd "$root" || exit 1
echo "consumer stage: $(( $(date +%s) - start )) s"

# The templates, installed from the feed into a throwaway template store, instantiated and built with warnings as
# errors; the worker and the client then run with no setup at all (the in-process broker).
echo "== dotnet new templates"
template_home=$(mktemp -d /tmp/celeriac-templates.XXXXXX)
hive=(--debug:custom-hive "$template_home/hive")
cp "$consumer/nuget.config" "$template_home/"
cd "$template_home" || exit 1
if dotnet new install "$feed/Celeriac.Templates.$version.nupkg" "${hive[@]}" >"$work/templates.log" 2>&1; then
  for kind in tasks worker client; do
    if dotnet new "celeriac-$kind" -n "Hello.$kind" -o "Hello.$kind" "${hive[@]}" >>"$work/templates.log" 2>&1 \
      && dotnet build "Hello.$kind" "${build_flags[@]}" >>"$work/templates.log" 2>&1; then
      pass "dotnet new celeriac-$kind builds with zero warnings"
    else
      fail "dotnet new celeriac-$kind" "$work/templates.log"
    fi
  done
  if (cd Hello.client && env -u CELERIAC_REDIS timeout 60 dotnet bin/Release/net10.0/Hello.client.dll) >"$work/template-client.log" 2>&1 \
    && grep -qx "Add(4, 5) = 9" "$work/template-client.log"; then
    pass "the client template runs with no setup: $(tr '\n' ' ' <"$work/template-client.log")"
  else
    fail "the client template's run" "$work/template-client.log"
  fi
  (cd Hello.worker && exec env -u Celeriac__Redis dotnet bin/Release/net10.0/Hello.worker.dll) >"$work/template-worker.log" 2>&1 &
  worker_pid=$!
  for _ in $(seq 1 600); do grep -q "pong: in-process broker" "$work/template-worker.log" && break; sleep 0.1; done
  if grep -q "pong: in-process broker" "$work/template-worker.log"; then
    pass "the worker template runs with no setup"
  else
    fail "the worker template's run" "$work/template-worker.log"
  fi
  kill "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null; worker_pid=""
else
  fail "dotnet new install Celeriac.Templates" "$work/templates.log"
fi
cd "$root" || exit 1

finish
