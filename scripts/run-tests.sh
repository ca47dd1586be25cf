#!/bin/sh
# Runs Check test binaries one after the other; prints each one's summary and
# a total line. Usage: run-tests.sh TIER BIN...
# A binary that exits 77 was skipped: it prints its reason (e.g. BPF tests
# without root) and the skip is counted. Run as root, a skip is a failure:
# on a machine set up by make deps a test that cannot run as root is broken.
tier=$1
shift
pass=0
fail=0
skip=0
for t in "$@"; do
	echo "== $tier: $(basename "$t")"
	CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-30} "$t"
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
	elif [ $rc -eq 77 ] && [ "$(id -u)" != 0 ]; then
		skip=$((skip + 1))
		echo "   (skipped, reason above)"
	elif [ $rc -eq 77 ]; then
		fail=$((fail + 1))
		echo "   FAILED: skipped although run as root (reason above)"
	else
		fail=$((fail + 1))
		echo "   FAILED (exit $rc)"
	fi
done
echo "$tier: $pass passed, $fail failed, $skip skipped"
# A tier that ran nothing proved nothing.
[ $((pass + fail + skip)) -gt 0 ] || { echo "$tier: no test ran"; exit 1; }
[ $fail -eq 0 ]
