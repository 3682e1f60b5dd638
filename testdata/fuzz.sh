#!/bin/bash
# Runs every fuzz target of the module briefly (FUZZTIME executions, 3000
# by default), so that a target that no longer builds or runs, or an input
# that crashes a parser, fails the build. Crashers found are written under
# the package's testdata/fuzz and replayed by every later go test. The
# budget is a count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" when the
# time is up while a worker is busy (golang/go#75804), which a loaded
# 2-core machine makes likely.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3000x}
count=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/sekisho-fuzz.$$ 2>&1 || {
			cat /tmp/sekisho-fuzz.$$
			rm -f /tmp/sekisho-fuzz.$$
			exit 1
		}
		count=$((count + 1))
	done
done
rm -f /tmp/sekisho-fuzz.$$
if [ "$count" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $count targets passed"
