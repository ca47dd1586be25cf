#!/bin/sh
# Runs the integration tests: every test/integration/test_*.sh, or the ones
# named (run.sh test_steal.sh ...). Most need root; each builds and removes
# its own namespaces. A script exits 0 = passed, 77 = skipped (its reason is
# printed), anything else = failed. The summary counts scripts and, over all
# scripts, the checks they passed, failed and skipped (see lib.sh).
cd "$(dirname "$0")/../.." || exit 1
pass=0
fail=0
skip=0
failed=""
BM_COUNTS=$(mktemp /tmp/bm-integration-counts.XXXXXX) || exit 1
export BM_COUNTS
trap 'rm -f "$BM_COUNTS"' EXIT
trap 'exit 1' INT TERM HUP
if [ $# -gt 0 ]; then
	tests=$(for t in "$@"; do echo "test/integration/$(basename "$t")"; done)
else
	tests=$(ls test/integration/test_*.sh)
fi
for t in $tests; do
	[ -e "$t" ] || { echo "no such test: $t"; fail=$((fail + 1)); failed="$failed $t"; continue; }
	name=$(basename "$t" .sh)
	echo "== integration: $name"
	# simcluster has fixed names: tests that use it must not overlap with
	# another run on the same machine (a developer's, or a second make test).
	timeout --kill-after=10 600 flock /tmp/bpfmirror-simcluster.lock sh "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); failed="$failed $name"; echo "   FAILED (exit $rc)" ;;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
checks=$(awk '{ p += $2; f += $3; s += $4 } END { printf "%d passed, %d failed, %d skipped", p, f, s }' "$BM_COUNTS")
echo "integration checks: $checks"
echo "integration: $pass passed, $fail failed, $skip skipped"
# A tier that ran nothing proved nothing (a typo in a name, a lost glob).
[ $((pass + fail + skip)) -gt 0 ] || { echo "integration: no test ran"; exit 1; }
[ $fail -eq 0 ]
