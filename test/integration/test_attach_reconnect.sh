#!/bin/sh
# Losing the agent in simcluster: kill -9 of the node agent during an attach.
# The CLI says so within 2 s, keeps the command running, and re-attaches
# within 15 s once the agent is back (simcluster's kubelet restarts the
# DaemonSet pod); mirroring then works again. With --exit-on-disconnect the
# command is stopped (non-zero exit) within 5 s instead.
# Root only; 77 = skipped.
. "$(dirname "$0")/lib.sh"
need jq
start_cluster

build/bpfmirror attach deployment/ip-visit-counter --connect direct -- \
	build/apps/ip-visit-counter-local >"$T/local.out" 2>"$T/bm.err" &
BM=$!
wait_for "$T/local.out" "listening on" 100 || { cat "$T/bm.err"; give_up "attach"; }
APID=$(agent_pid)
kill -9 "$APID"
wait_for "$T/bm.err" "lost the agent" 20 && ok "loss reported at once: $(grep -o 'lost the agent.*' "$T/bm.err" | head -1 | cut -c1-90)" || bad "no loss message"
kill -0 "$BM" 2>/dev/null && pgrep -f ip-visit-counter-local >/dev/null && ok "the command keeps running" || bad "the command died with the agent"
if wait_for "$T/bm.err" "re-attached" 150; then
	ok "re-attached after the agent came back (new pid $(agent_pid))"
	before=$(grep -c 'GET /count' "$T/local.out")
	for i in 1 2 3 4 5 6; do $SC client -- curl -s -m 3 http://ip-visit-counter/count >/dev/null; done
	sleep 1
	after=$(grep -c 'GET /count' "$T/local.out")
	[ $((after - before)) = 6 ] && ok "mirroring works again (6/6)" || bad "after re-attach the local build got $((after - before))/6"
else
	bad "no re-attach within 15 s: $(tail -3 "$T/bm.err")"
fi
kill -INT "$BM"
wait "$BM" 2>/dev/null
BM=

# CI mode: the command ends with the connection.
i=0
until [ -n "$(agent_pid)" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
build/bpfmirror attach deployment/ip-visit-counter --connect direct --exit-on-disconnect -- \
	sleep 30 >"$T/ci.out" 2>&1 &
BM=$!
wait_for "$T/ci.out" "ready in" 100 || { cat "$T/ci.out"; bad "attach (CI mode)"; }
kill -9 "$(agent_pid)"
if ! wait_exit "$BM" 50; then
	bad "--exit-on-disconnect: still running 5 s after the agent died"
else
	wait "$BM"
	rc=$?
	[ $rc -ne 0 ] && ok "--exit-on-disconnect stopped the command (exit $rc)" || bad "--exit-on-disconnect exit 0"
fi
BM=

finish
