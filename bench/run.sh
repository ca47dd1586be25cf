#!/bin/sh
# `make bench`: runs every bench/*/run.sh with short default durations (total
# well under 10 minutes, plus any wait for the simcluster lock) and prints
# each one's output (tables and ratios against the baseline of the same run).
# Timings are printed, never asserted: the exit status only says whether each
# benchmark ran (0), was skipped (77, e.g. not root) or broke.
# env: BENCH=name[,name] runs only those; FULL=1 is passed on (longer runs).
set -u
cd "$(dirname "$0")/.." || exit 1

# Per-benchmark arguments for the short default run (seconds per run, rounds).
args_for() {
	case $1 in
	handoff) echo "3 2 32" ;;
	mirror) echo "5 2" ;;
	*) echo "" ;;
	esac
}

failed=0
for script in bench/*/run.sh; do
	name=$(basename "$(dirname "$script")")
	if [ -n "${BENCH:-}" ]; then
		case ",$BENCH," in *",$name,"*) ;; *) continue ;; esac
	fi
	echo "==== bench/$name ($(date -u +%H:%M:%S))"
	start=$(date +%s)
	# shellcheck disable=SC2046
	timeout --kill-after=20 1800 sh "$script" $(args_for "$name")
	rc=$?
	case $rc in
	0) echo "==== bench/$name: done in $(($(date +%s) - start)) s" ;;
	77) echo "==== bench/$name: skipped" ;;
	*)
		echo "==== bench/$name: failed (exit $rc)"
		failed=$((failed + 1))
		;;
	esac
	echo
done
[ $failed -eq 0 ]
