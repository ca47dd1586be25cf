#!/bin/sh
# A hostile client against the agent (--no-datapath, on loopback, a fake /proc
# with one container to attach to): oversized and pathological frames before
# and after Hello, a 4 MiB batch of ~2 million empty packets, compressed
# bombs, many sessions at once, sessions holding partial 4 MiB frames,
# clients that never read, and several of these at once. After each: the
# agent answers with a clear Error and closes only that session, a
# well-behaved session opened at the start keeps working, new sessions work,
# and the agent's peak RSS (VmHWM) stays under the chart's memory limit.
# Needs no root and no namespaces.
. "$(dirname "$0")/lib.sh"
AGENT_BIN=build/bpfmirror-agent
need_tools "$AGENT_BIN" python3
make_temp
HC="python3 test/tools/hostile_client.py"
CID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
LIMIT_MB=$(sed -n '/^  limits:/,/memory:/s/^ *memory: *\([0-9]*\)Mi$/\1/p' charts/bpfmirror/values.yaml)
[ -n "$LIMIT_MB" ] || give_up "no memory limit in charts/bpfmirror/values.yaml"
APID=
KPID=
on_exit() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
}

# The node the agent sees: pid 4242 runs container $CID of pod default/app-1.
mkdir -p "$T/proc/4242" "$T/podlogs/default_app-1_1b2c3d4e-0000-4111-8222-123456789abc" "$T/root/etc"
echo "0::/kubepods/kubepods-besteffort-pod1b2c3d4e_0000_4111_8222_123456789abc.slice/cri-containerd-$CID.scope" >"$T/proc/4242/cgroup"
echo "4242 (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0" >"$T/proc/4242/stat"
printf 'PORT=8080\0' >"$T/proc/4242/environ"
echo "nameserver 10.96.0.10" >"$T/root/etc/resolv.conf"
ln -s "$T/root" "$T/proc/4242/root"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
A=127.0.0.1:$PORT
"$AGENT_BIN" --no-datapath --listen "$A" --metrics '' --proc "$T/proc" --pod-logs "$T/podlogs" \
	--heartbeat-ms 500 --node-name hostile-node >"$T/agent.log" 2>&1 &
APID=$!
for _ in $(seq 50); do $HC "$A" good >/dev/null 2>&1 && break; sleep 0.1; done
$HC "$A" good 2>&1 | grep -q "reply heartbeat" || { cat "$T/agent.log"; give_up "agent not serving on $A"; }
ok "agent serving on $A (pid $APID, chart memory limit ${LIMIT_MB} MiB)"

# A well-behaved session through the whole test.
$HC "$A" keepalive "$T/stop" >"$T/keepalive.out" 2>&1 &
KPID=$!

kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$APID/status"; }

# after NAME: the agent is up, a new session works, its peak RSS is under the limit.
after() {
	if ! kill -0 "$APID" 2>/dev/null; then
		tail -5 "$T/agent.log"
		give_up "$1: the agent died"
	fi
	got=$($HC "$A" good 2>&1)
	[ "$got" = "reply heartbeat" ] || bad "$1: a new session after it got: $got"
	hwm=$(kb VmHWM)
	[ "$hwm" -lt $((LIMIT_MB * 1024)) ] && ok "$1: agent up, new session works, peak RSS $((hwm / 1024)) MiB" ||
		bad "$1: peak RSS $((hwm / 1024)) MiB, over the chart's ${LIMIT_MB} MiB"
}

# expect NAME PATTERN SCENARIO [ARG]: the scenario's answer matches *PATTERN* (a shell glob).
expect() {
	name=$1
	text=$2
	shift 2
	got=$(timeout 120 $HC "$A" "$@" 2>&1)
	# shellcheck disable=SC2254
	case $got in
	*$text*) ok "$name: $(echo "$got" | tail -1 | cut -c1-150)" ;;
	*) bad "$name: want '$text', got: $got" ;;
	esac
	after "$name"
}

expect "64 KiB+1 frame before hello" "FRAME_TOO_LARGE fatal=1: bad frame: frame larger than the maximum frame size (65536 bytes before hello); closed" big-prehello
expect "60 KiB of garbage before hello" "MALFORMED_FRAME fatal=1" garbage-prehello
expect "attach before hello" "UNEXPECTED_MESSAGE fatal=1: expected hello" attach-prehello
expect "5 MiB length prefix after hello" "FRAME_TOO_LARGE fatal=1: bad frame: frame larger than the maximum frame size (4194304 bytes); closed" oversized
expect "4 MiB batch of 2 million empty packets" "FRAME_TOO_LARGE fatal=1: bad frame: frame decodes to more memory than the receiver allows" empty-packets
expect "1.4 million unknown fields" "frame decodes to more memory" deep-unknown
expect "2000 packets in one batch" "too many packets in one batch; closed" many-packets
expect "100 KiB heartbeat" "control message larger than the small-frame limit; closed" big-control
expect "compressed bombs after attach" "4MiB-empty: error MALFORMED_FRAME fatal=0*16MiB-empty: error MALFORMED_FRAME fatal=0*after: reply heartbeat" bomb "$CID"
# The session opened at the start holds one of the 32.
expect "40 sessions at once" "31 of 40 got hello_reply; first refusal: error RESOURCE_EXHAUSTED fatal=1: the agent serves 32 sessions" sessions 40
expect "10 sessions holding partial 4 MiB frames" "RESOURCE_EXHAUSTED fatal=1: frame refused: the agent's input buffers are full" partial 10
expect "a client that never reads" "never-read: agent closed" never-read
expect "a client that stops reading but stays alive" "stall: agent closed the session" stall

# Several at once: the budgets are the agent's, not each session's.
pids=
for _ in 1 2 3 4; do
	$HC "$A" never-read >>"$T/many.out" 2>&1 &
	pids="$pids $!"
done
for _ in 1 2; do
	$HC "$A" empty-packets >>"$T/many.out" 2>&1 &
	pids="$pids $!"
done
$HC "$A" partial 6 >>"$T/many.out" 2>&1 &
pids="$pids $!"
for p in $pids; do wait "$p"; done
[ "$(grep -c "never-read: agent closed" "$T/many.out")" = 4 ] && ok "4 never-reading clients at once: all closed" ||
	bad "4 never-reading clients at once: $(cat "$T/many.out")"
after "all at once"

touch "$T/stop"
if wait "$KPID"; then
	ok "the session opened at the start kept working: $(cat "$T/keepalive.out")"
else
	bad "the session opened at the start: $(cat "$T/keepalive.out")"
fi
KPID=
grep -E "closed: (send queue full|client is not reading)" "$T/agent.log" | head -2 | sed 's/^/   log: /'
finish
