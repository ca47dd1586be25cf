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
# Variants (environment) each benchmark runs in; "-" = as is. The mirror bench
# runs twice: all processes sharing the 2 cores, and SPLIT=1 (node side on CPU
# 0, developer side on CPU 1, as if the developer's machine were another one).
variants_for() {
	case $1 in
	mirror) echo "SPLIT=0 SPLIT=1" ;;
	*) echo "-" ;;
	esac
}

failed=0
for script in bench/*/run.sh; do
	name=$(basename "$(dirname "$script")")
	if [ -n "${BENCH:-}" ]; then
		case ",$BENCH," in *",$name,"*) ;; *) continue ;; esac
	fi
	for v in $(variants_for "$name"); do
		label=$name
		[ "$v" = - ] || label="$name $v"
		echo "==== bench/$label ($(date -u +%H:%M:%S))"
		start=$(date +%s)
		# shellcheck disable=SC2046
		if [ "$v" = - ]; then
			timeout --kill-after=20 1800 sh "$script" $(args_for "$name")
		else
			env "$v" timeout --kill-after=20 1800 sh "$script" $(args_for "$name")
		fi
		rc=$?
		case $rc in
		0) echo "==== bench/$label: done in $(($(date +%s) - start)) s" ;;
		77) echo "==== bench/$label: skipped" ;;
		*)
			echo "==== bench/$label: failed (exit $rc)"
			failed=$((failed + 1))
			;;
		esac
		echo
	done
done
[ $failed -eq 0 ]
