#!/usr/bin/env bash
# The NATS suites against a nats-server of the line production runs (2.10 and later), so that the paths only newer
# servers take (one consumer filtering several subjects, a `+TERM` with its reason, `sync_interval`) run as the 2.9
# ones do under `npm test` and `npm run test:reliability`. Two runs, one per invocation:
#
#   bash scripts/test-nats-newer.sh [vitest args]                the JetStream suites, on a server of their own
#   bash scripts/test-nats-newer.sh --reliability [vitest args]  the fault scenarios of test/reliability that run
#                                                                nats-servers (each starts its own, of this program)
#
# Extra arguments go to vitest (`.ci/run` gives each run its own JSON results file).
#
# The program is GLAM_NATS_NEWER_SERVER when it is set (a nats-server of 2.10 or later, e.g. Homebrew's). Otherwise
# it is the nats-server of Debian's stable release (trixie: 2.10), unpacked from its package (not installed) under
# .nats-newer/, which later runs reuse. DEBIAN_MIRROR picks the mirror (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'test-nats-newer: %s\n' "$*" >&2; exit 1; }

mode=jetstream
if [ "${1:-}" = "--reliability" ]; then
  mode=reliability
  shift
fi

suites=(
  test/BusJetStream.test.ts
  test/BusJetStreamPull.test.ts
  test/BusJetStreamPublish.test.ts
  test/BusDeadLetter.test.ts
  test/BusConformance.test.ts
  test/BusFamily.test.ts
  test/BusWire.test.ts
  test/BusStreamDeleted.test.ts
  test/BusJetStreamConsumer.test.ts
  test/BusMaxDeliveries.test.ts
  test/BusJetStreamLimits.test.ts
  test/BusPublishFailureMetrics.test.ts
  test/DevicesBridgeJetStream.test.ts
)

unpacked() {
  [ -d .nats-newer ] || return 0
  find .nats-newer -type f -name nats-server -perm -u+x | sed -n 1p
}

program="${GLAM_NATS_NEWER_SERVER:-}"
if [ -z "$program" ]; then
  program=$(unpacked)
  if [ -z "$program" ]; then
    for tool in curl xz dpkg-deb; do
      command -v "$tool" >/dev/null 2>&1 || die "$tool is needed to unpack Debian's nats-server; or set GLAM_NATS_NEWER_SERVER"
    done
    mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    arch=$(dpkg --print-architecture)
    # The package's current file, from the release's index (its name changes with each Debian rebuild).
    file=$(curl -fsS --retry 3 "$mirror/dists/trixie/main/binary-$arch/Packages.xz" | xz -dc |
      awk '/^Package: /{p = ($2 == "nats-server")} p && /^Filename: / && !f {print $2; f = 1}') ||
      die "could not read Debian trixie's package index from $mirror"
    [ -n "$file" ] || die "Debian trixie's index has no nats-server for $arch"
    mkdir -p .nats-newer
    curl -fsS --retry 3 -o .nats-newer/nats-server.deb "$mirror/$file" || die "could not download $mirror/$file"
    dpkg-deb -x .nats-newer/nats-server.deb .nats-newer/root || die "could not unpack $file"
    rm -f .nats-newer/nats-server.deb
    program=$(unpacked)
    [ -n "$program" ] || die "$file holds no nats-server program"
  fi
fi

version=$("$program" --version 2>&1 | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -1)
case "$version" in
  2.[0-9] | 2.[0-9].* | 1.* | "") die "$program is nats-server ${version:-of no known version}: 2.10 or later is needed" ;;
esac

if [ "$mode" = reliability ]; then
  # Every scenario that starts a nats-server (they say so with toolAvailable("nats-server")); the others have no
  # NATS in them and run under `npm run test:reliability` only.
  mapfile -t scenarios < <(grep -l 'toolAvailable("nats-server")' test/reliability/*.test.ts)
  [ "${#scenarios[@]}" -gt 0 ] || die "no scenario of test/reliability starts a nats-server"
  echo "reliability scenarios on nats-server $version: ${scenarios[*]##*/}"
  # Each scenario starts its servers (single and clustered) from GLAM_NATS_SERVER.
  GLAM_NATS_SERVER="$program" npx vitest run --config vitest.reliability.config.ts "${scenarios[@]}" "$@"
  exit
fi

port=$(node -e '
  const server = require("node:net").createServer()
  server.listen(0, "127.0.0.1", () => { const { port } = server.address(); server.close(() => console.log(port)) })
')
store=$(mktemp -d "${TMPDIR:-/tmp}/glam-nats-newer-XXXXXX")
"$program" -a 127.0.0.1 -p "$port" -js -sd "$store" >"$store/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$store"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || die "nats-server $version exited at start: $(tail -5 "$store/server.log")"
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "nats-server $version did not listen on 127.0.0.1:$port"

echo "JetStream suites on nats-server $version (127.0.0.1:$port, its own store)"
# The suites' own servers (restarted, clustered) are of the same version.
GLAM_TEST_NATS_PORT="$port" GLAM_NATS_SERVER="$program" npx vitest run "${suites[@]}" "$@"
