#!/bin/sh
# Runs every test/integration/test_*.sh (root; each builds and removes its own
# namespaces). A test exits 0 = pass, 77 = skipped, anything else = fail.
cd "$(dirname "$0")/../.." || exit 1
pass=0
fail=0
skip=0
failed=""
for t in test/integration/test_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	echo "== integration: $name"
	# simcluster has fixed names: tests that use it must not overlap with
	# another run on the same machine (a developer's, or a second make test).
	timeout --kill-after=10 600 flock /tmp/bpfmirror-simcluster.lock sh "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); echo "   (skipped)" ;;
	*) fail=$((fail + 1)); failed="$failed $name"; echo "   FAILED (exit $rc)" ;;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
