#!/bin/sh
# Runs every libFuzzer target for a bounded time each. Usage: run-fuzz.sh SECONDS BIN...
# Seeds come from test/fuzz/seeds/NAME/ when present; new corpus goes to build/.
secs=$1
shift
fail=0
pass=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=build/fuzz/corpus-$name
	mkdir -p "$corpus"
	seeds=""
	[ -d "test/fuzz/seeds/$name" ] && seeds="test/fuzz/seeds/$name"
	echo "== fuzz: $name for ${secs}s"
	# shellcheck disable=SC2086
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/ "$corpus" $seeds >build/fuzz/$name.log 2>&1; then
		pass=$((pass + 1))
		tail -n 2 build/fuzz/$name.log | sed 's/^/   /'
	else
		fail=$((fail + 1))
		tail -n 40 build/fuzz/$name.log
		echo "   FAILED: $name (see build/fuzz/$name.log)"
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
