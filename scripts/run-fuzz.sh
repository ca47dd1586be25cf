#!/bin/sh
# Runs every libFuzzer target for a bounded time each. Usage: run-fuzz.sh SECONDS BIN...
# Seeds come from test/fuzz/seeds/NAME/ when present; new corpus goes to build/.
# A target's source may set its memory limit with a line "// FUZZ_RSS_MB: N"
# (default 2048): e.g. the agent's session target runs under the chart's
# 128 MiB. ASan then keeps at most N/8 MiB of freed memory in quarantine, so
# the limit measures the program, not the sanitizer.
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
	rss=$(sed -n 's|^// FUZZ_RSS_MB: *\([0-9]*\).*|\1|p' "test/fuzz/$name.c" 2>/dev/null | head -1)
	asan=${ASAN_OPTIONS:-}
	if [ -n "$rss" ]; then
		asan="quarantine_size_mb=$((rss / 8))${asan:+:$asan}"
	else
		rss=2048
	fi
	echo "== fuzz: $name for ${secs}s (rss limit ${rss} MB)"
	# shellcheck disable=SC2086
	if ASAN_OPTIONS=$asan "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb="$rss" \
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
[ $((pass + fail)) -gt 0 ] || { echo "fuzz: no target ran"; exit 1; }
[ $fail -eq 0 ]
