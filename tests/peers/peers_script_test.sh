#!/usr/bin/env bash
# scripts/peers (make peers) on failure: one line naming the step and its log file, exit 1, and
# nothing left in the cache that a later run would trust. The tools are swapped for ones that
# fail (GO/MVN/JAVA overrides), so this runs in a second and needs no registry.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/scripts/peers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
expect() {  # expect DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

mkdir -p "$tmp/bin"
# A Maven that fails as an unreachable registry makes it fail.
printf '#!/bin/sh\necho "[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13: Connection refused"\nexit 1\n' >"$tmp/bin/mvn"
# A Go whose compile fails (it reports a new enough version, so the build step is reached).
printf '#!/bin/sh\nif [ "$1" = env ]; then echo go1.26.8; exit 0; fi\necho "compile: undefined: something" >&2\nexit 2\n' >"$tmp/bin/go"
# A Go that is too old.
printf '#!/bin/sh\nif [ "$1" = env ]; then echo go1.19.8; exit 0; fi\nexit 0\n' >"$tmp/bin/oldgo"
chmod +x "$tmp/bin/"*

# 1. A missing tool is named before anything is attempted.
out=$(SLUICE_PEERS_DIR="$tmp/a" MVN=/nonexistent/mvn "$peers" kafka 2>&1)
rc=$?
expect "missing mvn exits 1 (got $rc)" test "$rc" -eq 1
expect "missing mvn: one line naming the step (got: $out)" \
  test "$out" = "peers: kafka download failed: '/nonexistent/mvn' is not installed (scripts/install-deps installs it)"
expect "missing mvn leaves no kafka/ link" test ! -e "$tmp/a/kafka"

# 2. A failing download names the step and its log; the log says why; no half-filled cache.
out=$(SLUICE_PEERS_DIR="$tmp/b" MVN="$tmp/bin/mvn" "$peers" kafka 2>&1)
rc=$?
expect "failed download exits 1 (got $rc)" test "$rc" -eq 1
expect "failed download: last line names the step and log (got: $out)" \
  test "$(tail -n 1 <<<"$out")" = "peers: kafka download failed; see $tmp/b/logs/kafka.log"
expect "the log holds Maven's reason" grep -q "Could not transfer" "$tmp/b/logs/kafka.log"
expect "no kafka/ link after a failed download" test ! -e "$tmp/b/kafka"
expect "no temp dir left behind" test -z "$(ls -A "$tmp/b/versions")"

# 3. A failed compile: the same, for the Go builds.
out=$(SLUICE_PEERS_DIR="$tmp/c" GO="$tmp/bin/go" "$peers" etcd 2>&1)
rc=$?
expect "failed compile exits 1 (got $rc)" test "$rc" -eq 1
expect "failed compile names the step and log (got: $out)" \
  test "$(tail -n 1 <<<"$out")" = "peers: etcd build failed; see $tmp/c/logs/etcd.log"
expect "the log holds the compiler's error" grep -q "undefined: something" "$tmp/c/logs/etcd.log"
expect "no bin/etcd after a failed compile" test ! -e "$tmp/c/bin/etcd"

# 4. A Go older than the pinned release needs is refused with the reason.
out=$(SLUICE_PEERS_DIR="$tmp/d" GO="$tmp/bin/oldgo" "$peers" kube 2>&1)
rc=$?
expect "old Go exits 1 (got $rc)" test "$rc" -eq 1
expect "old Go is named (got: $out)" \
  test "$out" = "peers: kubernetes build failed: Go 1.19.8 is older than 1.26, which kubernetes v1.37.2 needs"

# 5. The temp dir of an interrupted build is removed, never trusted.
mkdir -p "$tmp/e/versions/.kafka.AbC123/libs"
touch "$tmp/e/versions/.kafka.AbC123/.complete"
SLUICE_PEERS_DIR="$tmp/e" MVN="$tmp/bin/mvn" "$peers" kafka >/dev/null 2>&1
expect "an interrupted build's temp dir is removed" test ! -e "$tmp/e/versions/.kafka.AbC123"
expect "and no kafka/ link points at it" test ! -e "$tmp/e/kafka"

echo "$passed passed, $failed failed"
test "$failed" -eq 0
