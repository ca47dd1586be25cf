#!/bin/sh
# Mirror benchmark in simcluster: a fast "pod" (nginx answering
# `200 ok`, test/cluster/bench/echo.yaml) loaded through its Service from
# `simcluster client`, with no session (agent idle, nothing attached) and with
# a mirror session whose local process is a second nginx run by
# `bpfmirror attach deployment/echo --connect direct -- nginx ...`.
# Prints per-round numbers and mirror/none ratios from the same run:
# saturation throughput (wrk -t1 -c32), p50/p99 at a fixed rate (rateload,
# open loop), the share of requests the local nginx received and its delay,
# attach time, agent RSS and CPU. Timings are printed, never asserted.
# Root; takes the simcluster lock (/tmp/bpfmirror-simcluster.lock) for the
# whole run and leaves the cluster down. Every loop is bounded.
#
# Usage: bench/mirror/run.sh [SAT_SECONDS] [ROUNDS]
#   env: RATE=N (fixed rate; default: 10000, stepping down to the highest
#        rate the baseline serves with p99 < 5 ms), RATE_SECONDS (default 10),
#        FULL=1 (60 s fixed-rate runs, 1 round), CONNS (default 32),
#        FRESH (share of fresh connections in the fixed-rate runs, default 0.02),
#        LOCK_WAIT (seconds to wait for the simcluster lock, default 900),
#        SPLIT=1 (pin the node side -- client, pod, agent -- to CPU 0 and the
#        developer side -- bpfmirror CLI and the local nginx -- to CPU 1, as if
#        the developer's machine were another computer; the baseline too),
#        BPF_STATS=1 (sets kernel.bpf_stats_enabled for the run, restored on
#        exit, and prints the programs' average run time per packet),
#        FRESH_RATE (req/s of the fresh-connection round, default 1000; 0 skips
#        it), FRESH_SECONDS (its length, default 3)
# The fresh-connection round (after the ratios): every request on a new
# connection (rateload -f 1), first without a session, then mirrored; prints
# the requests the pod answered, those the local nginx received, and the CLI's
# `mirror: ... replayed` summary from its detach.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
LOCK=/tmp/bpfmirror-simcluster.lock
if [ "${BENCH_MIRROR_LOCKED:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "mirror bench: needs root" >&2; exit 77; }
	BENCH_MIRROR_LOCKED=1 exec flock -w "${LOCK_WAIT:-900}" "$LOCK" "$0" "$@"
fi

SAT=${1:-5}
ROUNDS=${2:-2}
RATE_SECONDS=${RATE_SECONDS:-10}
if [ "${FULL:-0}" = 1 ]; then
	RATE_SECONDS=60
	ROUNDS=${2:-1}
fi
CONNS=${CONNS:-32}
FRESH=${FRESH:-0.02}
FRESH_RATE=${FRESH_RATE:-1000}
FRESH_SECONDS=${FRESH_SECONDS:-3}
SC=scripts/simcluster
BM=build/bpfmirror
PIN_NODE=
PIN_DEV=
if [ "${SPLIT:-0}" = 1 ]; then
	PIN_NODE="taskset -c 0"
	PIN_DEV="taskset -c 1"
fi
RATELOAD=build/bench/rateload
MANIFEST=test/cluster/bench/echo.yaml

for t in wrk nginx jq cc curl; do
	command -v $t >/dev/null || { echo "mirror bench: $t missing (make deps)" >&2; exit 77; }
done
[ -x $BM ] && [ -x build/bpfmirror-agent ] || { echo "mirror bench: run make first" >&2; exit 77; }
mkdir -p build/bench
if [ ! -x $RATELOAD ] || [ bench/tools/rateload.c -nt $RATELOAD ]; then
	cc -O2 -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -o $RATELOAD bench/tools/rateload.c
fi

TMP=$(mktemp -d /tmp/bpfmirror-bench-mirror.XXXXXX)
BMPID=
BPF_STATS_OLD=
cleanup() {
	set +e
	stop_attach
	[ -n "$BPF_STATS_OLD" ] && sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_OLD"
	$SC down >/dev/null 2>&1
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
stop_attach() {
	[ -n "$BMPID" ] || return 0
	kill -INT "$BMPID" 2>/dev/null || true
	i=0
	while kill -0 "$BMPID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$BMPID" 2>/dev/null || true
	wait "$BMPID" 2>/dev/null || true
	BMPID=
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- cluster -----------------------------------------------------------------
if ! $SC up $MANIFEST >"$TMP/up.log" 2>&1; then
	cat "$TMP/up.log" >&2
	echo "mirror bench: simcluster up failed" >&2
	exit 1
fi
STATE=$($SC state)
KUBECONFIG=$($SC kubeconfig)
export KUBECONFIG
SVC=$(jq -r '.services[] | select(.name == "echo") | .clusterIP' "$STATE")
AGENT_PID=$(jq -r '.pods[] | select(.namespace == "bpfmirror") | .containers[0].pid' "$STATE")
METRICS=$(jq -r .node.internalIP "$STATE"):47101
if [ -z "$AGENT_PID" ] || [ "$(cat "/proc/$AGENT_PID/comm" 2>/dev/null)" != bpfmirror-agent ]; then
	echo "mirror bench: no agent pod in simcluster" >&2
	exit 1
fi

# The local process: nginx in one process (no setuid to workers: the twin is a
# user namespace with one mapped id), access log with send timestamps.
# `user root root` keeps nginx from chowning its temp dirs to nobody, which the
# twin's user namespace cannot map.
cat >"$TMP/twin.conf" <<EOF
master_process off;
user root root;
worker_processes 1;
pid $TMP/twin.pid;
error_log $TMP/twin-error.log warn;
events { worker_connections 4096; }
http {
	log_format bench '\$msec \$request_uri \$status';
	access_log $TMP/twin-access.log bench buffer=32k flush=100ms;
	keepalive_requests 10000000;
	client_body_temp_path $TMP/body;
	proxy_temp_path $TMP/proxy;
	fastcgi_temp_path $TMP/fastcgi;
	uwsgi_temp_path $TMP/uwsgi;
	scgi_temp_path $TMP/scgi;
	server {
		listen 8080;
		location / { default_type text/plain; return 200 "local\n"; }
	}
}
EOF
: >"$TMP/twin-access.log"

# ---- measurement helpers -------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
HZ=$(getconf CLK_TCK)
metric() { # metric NAME_REGEX: sum of matching sample values from the agent
	ip netns exec bm-node curl -s -m 2 "http://$METRICS/metrics" |
		awk -v re="$1" '$1 ~ re {s += $2} END {printf "%d\n", s}'
}
# Lines of the local nginx's log for PATTERN (kubelet probes are mirrored too:
# the load uses its own paths, /wrk and /rate?t=...).
twin_lines() { grep -c "$1" "$TMP/twin-access.log" || true; }
# Waits (bounded, 5 s) until the twin's log has WANT lines or stops growing.
twin_settle() {
	want=$2
	last=-1
	i=0
	while [ $i -lt 50 ]; do
		n=$(twin_lines "$1")
		[ "$n" -ge "$want" ] && break
		[ "$n" = "$last" ] && [ $i -ge 5 ] && break
		last=$n
		sleep 0.1
		i=$((i + 1))
	done
	twin_lines "$1"
}

# wrk at saturation: prints "req/s p50_us p99_us requests"
run_wrk() {
	$SC client -- $PIN_NODE wrk -t1 -c"$CONNS" -d"${SAT}s" --latency "http://$SVC/wrk" >"$TMP/wrk.out" 2>&1 || true
	awk '
	function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
	/Requests\/sec/ {rps = $2} / requests in/ {n = $1}
	$1 == "50%" {p50 = us($2)} $1 == "99%" {p99 = us($2)}
	END {printf "%d %d %d %d\n", rps, p50, p99, n}' "$TMP/wrk.out"
}

# rateload at RATE for SECONDS [PATH [CONNS FRESH_SHARE]]: prints the JSON line
run_rate() {
	$SC client -- $PIN_NODE $RATELOAD -a "$SVC" -p 80 -H echo -c "${4:-$CONNS}" -r "$1" -d "$2" \
		-f "${5:-$FRESH}" -u "${3:-/rate}" -T \
		>"$TMP/rate.json" 2>"$TMP/rate.err" || true
	if ! jq -e .ok "$TMP/rate.json" >/dev/null 2>&1; then
		echo '{"ok":0,"sent":0,"errors":1,"p50_us":0,"p99_us":0,"rate":0}' >"$TMP/rate.json"
	fi
	cat "$TMP/rate.json"
}

attach() { # starts the mirror session; sets BMPID, ATTACH_MS, READY_MS
	: >"$TMP/bm.err"
	rm -f "$TMP/twin.pid"
	t0=$(now_ms)
	$PIN_DEV $BM attach deployment/echo --connect direct -- \
		nginx -c "$TMP/twin.conf" -g 'daemon off;' >"$TMP/bm.out" 2>"$TMP/bm.err" &
	BMPID=$!
	i=0
	until grep -q "ready in" "$TMP/bm.err"; do
		i=$((i + 1))
		if [ $i -gt 1000 ] || ! kill -0 "$BMPID" 2>/dev/null; then
			cat "$TMP/bm.err" >&2
			echo "mirror bench: attach failed" >&2
			exit 1
		fi
		sleep 0.01
	done
	ATTACH_MS=$(($(now_ms) - t0))
	READY_MS=$(grep -o 'ready in [0-9]*' "$TMP/bm.err" | awk '{print $3}')
	i=0
	until [ -s "$TMP/twin.pid" ]; do
		i=$((i + 1))
		if [ $i -gt 500 ]; then
			cat "$TMP/bm.err" "$TMP/twin-error.log" >&2
			echo "mirror bench: the local nginx did not start" >&2
			exit 1
		fi
		sleep 0.01
	done
	LISTEN_MS=$(($(now_ms) - t0))
	TWIN_PID=$(cat "$TMP/twin.pid")
}

# delays of the twin's log lines for the fixed-rate run of round $1: "p50_us p99_us"
twin_delay() { delays_of "/rate?r=$1&t="; }
# delays of the twin's log lines whose path starts with $1 (ends in "t="): "p50_us p99_us"
delays_of() {
	grep "^[0-9.]* $1" "$TMP/twin-access.log" |
		awk '{ if (match($2, /t=[0-9]+/)) { t = substr($2, RSTART + 2, RLENGTH - 2); printf "%d\n", $1 * 1e6 - t } }' |
		sort -n | awk '{v[NR] = $1} END {
			if (NR == 0) { print "0 0"; exit }
			i50 = int(NR * 0.5); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			print v[i50], v[i99] }'
}

# CPU use during a phase, in % of one core: the pod's cgroup, the agent, the
# bpfmirror CLI, the local nginx, and the whole machine (of NCPU cores).
NCPU=$(nproc)
POD_CG=/sys/fs/cgroup/unified/$(jq -r '.pods[] | select(.name | startswith("echo-")) | .containers[0].cgroup' "$STATE")
[ -d /sys/fs/cgroup/unified ] || POD_CG=/sys/fs/cgroup/$(jq -r '.pods[] | select(.name | startswith("echo-")) | .containers[0].cgroup' "$STATE")
cg_usec() { awk '/^usage_usec/ {print $2}' "$POD_CG/cpu.stat" 2>/dev/null || echo 0; }
sys_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
cpu_begin() {
	_t0=$(now_ms) _pod0=$(cg_usec) _ag0=$(ticks "$AGENT_PID")
	_cli0=0 _tw0=0
	[ -n "$BMPID" ] && _cli0=$(ticks "$BMPID") _tw0=$(ticks "$TWIN_PID")
	set -- $(sys_ticks)
	_busy0=$1 _idle0=$2
}
cpu_end() {
	_ms=$(($(now_ms) - _t0))
	_pod=$(($(cg_usec) - _pod0)) _ag=$(($(ticks "$AGENT_PID") - _ag0))
	_cli=0 _tw=0
	[ -n "$BMPID" ] && _cli=$(($(ticks "$BMPID") - _cli0)) _tw=$(($(ticks "$TWIN_PID") - _tw0))
	set -- $(sys_ticks)
	CPU_LINE=$(awk -v ms="$_ms" -v pod="$_pod" -v ag="$_ag" -v cli="$_cli" -v tw="$_tw" \
		-v b=$(($1 - _busy0)) -v i=$(($2 - _idle0)) -v hz="$HZ" -v n="$NCPU" 'BEGIN {
		s = ms / 1000
		printf "pod %.0f, agent %.0f, CLI %.0f, local nginx %.0f, machine busy %.0f of %d", \
			100 * pod / 1e6 / s, 100 * ag / hz / s, 100 * cli / hz / s, 100 * tw / hz / s,
			100 * n * b / (b + i), 100 * n }')
}

if [ -n "$PIN_NODE" ]; then
	for p in $(cat "$POD_CG/cgroup.procs") $AGENT_PID; do
		taskset -a -p -c 0 "$p" >/dev/null
	done
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

if [ "${BPF_STATS:-0}" = 1 ] && command -v bpftool >/dev/null; then
	BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
fi
bpf_cost() { # average ns per run of the agent's programs (since they were loaded)
	[ -n "$BPF_STATS_OLD" ] || return 0
	bpftool -j prog show 2>/dev/null | jq -r '.[] | select(.name == "bm_to_pod" or .name == "bm_from_pod")
		| select(.run_cnt > 0) | "\(.name) \(.run_time_ns / .run_cnt | floor) ns x \(.run_cnt)"' | tr '\n' ' '
}

# ---- idle agent ----------------------------------------------------------------
sleep 1
RSS_IDLE=$(rss_kib "$AGENT_PID")
# Where the idle agent's resident memory is (largest mappings first).
RSS_WHERE=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6 == "" ? "[anon]" : $6}
	/^Rss:/ {rss[name] += $2} END {for (n in rss) if (rss[n] >= 512) printf "%s %d KiB\n", n, rss[n]}' \
	"/proc/$AGENT_PID/smaps" | sort -k2 -nr | head -6 | tr '\n' ';')
RSS_RING=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {m = $6 == "anon_inode:bpf-map"} /^Rss:/ && m {s += $2} END {print s + 0}' \
	"/proc/$AGENT_PID/smaps")

# ---- fixed rate: 10k req/s unless the baseline cannot serve it ------------------
if [ -n "${RATE:-}" ]; then
	RATE_WHY="given (RATE=$RATE)"
else
	RATE_WHY="10000 req/s: baseline p99 < 5 ms"
	RATE=
	for r in 10000 8000 6000 4000 2000 1000; do
		j=$(run_rate $r 3)
		ok=$(echo "$j" | jq .ok)
		p99=$(echo "$j" | jq .p99_us)
		if [ "$ok" -ge $((r * 3 * 99 / 100)) ] && [ "$p99" -lt 5000 ]; then
			RATE=$r
			break
		fi
		echo "  calibration: baseline at $r req/s: ok $ok/$((r * 3)), p99 ${p99} us: stepping down"
	done
	if [ -z "$RATE" ]; then
		RATE=1000
		RATE_WHY="1000 req/s: the baseline missed p99 < 5 ms at every rate tried"
	elif [ "$RATE" != 10000 ]; then
		RATE_WHY="$RATE req/s: highest rate with baseline p99 < 5 ms (10000 missed it)"
	fi
fi

echo "mirror bench: echo pod (nginx) via Service $SVC:80 from simcluster client"
if [ -n "$PIN_NODE" ]; then
	echo "  cpus: $NCPU; SPLIT=1: client, pod and agent on CPU 0, bpfmirror CLI and local nginx on CPU 1"
else
	echo "  cpus: $NCPU; shared: client, pod, agent, bpfmirror CLI and local nginx on all CPUs"
fi
echo "  saturation: wrk -t1 -c$CONNS -d${SAT}s; fixed rate: rateload -c$CONNS -r$RATE -d${RATE_SECONDS}s (fresh share $FRESH; $RATE_WHY); $ROUNDS round(s)"
echo "  agent RSS idle: $((RSS_IDLE / 1024)).$(((RSS_IDLE % 1024) * 10 / 1024)) MiB ($RSS_IDLE KiB; largest: $RSS_WHERE)"
printf '%-6s %-5s %9s %7s %7s | %8s %7s %7s %8s | %9s %9s %10s %8s %8s\n' \
	case round sat_rps sat_p50 sat_p99 fix_rps fix_p50 fix_p99 fix_err \
	local_got local_pct local_delay agent_cpu agent_pps

SUM=$TMP/summary
: >"$SUM"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	# -- no session
	cpu_begin
	set -- $(run_wrk)
	cpu_end
	n_sat_rps=$1 n_sat_p50=$2 n_sat_p99=$3
	n_cpu=$CPU_LINE
	j=$(run_rate "$RATE" "$RATE_SECONDS" "/rate?r=none$r")
	n_fix_rps=$(echo "$j" | jq .rate) n_fix_p50=$(echo "$j" | jq .p50_us)
	n_fix_p99=$(echo "$j" | jq .p99_us) n_fix_err=$(echo "$j" | jq .errors)
	printf '%-6s %-5s %9s %7s %7s | %8s %7s %7s %8s | %9s %9s %10s %8s %8s\n' none "$r" \
		"$n_sat_rps" "$n_sat_p50" "$n_sat_p99" "$n_fix_rps" "$n_fix_p50" "$n_fix_p99" \
		"$n_fix_err" - - - - -
	echo "       CPU % of a core during saturation: $n_cpu"

	# -- mirror session
	attach
	base=$(twin_lines ' /wrk ')
	cpu_begin
	set -- $(run_wrk)
	cpu_end
	m_sat_rps=$1 m_sat_p50=$2 m_sat_p99=$3 m_sat_n=$4
	m_cpu=$CPU_LINE
	sat_got=$(($(twin_settle ' /wrk ' $((base + m_sat_n))) - base))
	a0=$(ticks "$AGENT_PID") c0=$(ticks "$BMPID") w0=$(ticks "$TWIN_PID")
	p0=$(metric 'packets_total.reason="mirrored"')
	t0=$(now_ms)
	j=$(run_rate "$RATE" "$RATE_SECONDS" "/rate?r=$r")
	t1=$(now_ms)
	a1=$(ticks "$AGENT_PID") c1=$(ticks "$BMPID") w1=$(ticks "$TWIN_PID")
	p1=$(metric 'packets_total.reason="mirrored"')
	rss_busy=$(rss_kib "$AGENT_PID")
	m_fix_rps=$(echo "$j" | jq .rate) m_fix_p50=$(echo "$j" | jq .p50_us)
	m_fix_p99=$(echo "$j" | jq .p99_us) m_fix_err=$(echo "$j" | jq .errors)
	sent=$(echo "$j" | jq .sent)
	got=$(twin_settle "/rate?r=$r&t=" "$sent")
	set -- $(twin_delay "$r")
	d50=$1 d99=$2
	ms=$((t1 - t0))
	cpu_agent=$(awk -v t=$((a1 - a0)) -v hz="$HZ" -v ms=$ms 'BEGIN {printf "%.1f", 100 * t / hz / (ms / 1000)}')
	cpu_cli=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v ms=$ms 'BEGIN {printf "%.1f", 100 * t / hz / (ms / 1000)}')
	cpu_twin=$(awk -v t=$((w1 - w0)) -v hz="$HZ" -v ms=$ms 'BEGIN {printf "%.1f", 100 * t / hz / (ms / 1000)}')
	pps=$(awk -v p=$((p1 - p0)) -v ms=$ms 'BEGIN {printf "%d", p / (ms / 1000)}')
	drops=$(metric 'client_backlog_drops_total|packets_total.reason="handoff_failed"')
	pct=$(awk -v a="$got" -v b="$sent" 'BEGIN { if (b > 0) printf "%.2f", 100 * a / b; else print "-" }')
	printf '%-6s %-5s %9s %7s %7s | %8s %7s %7s %8s | %9s %8s%% %10s %7s%% %8s\n' mirror "$r" \
		"$m_sat_rps" "$m_sat_p50" "$m_sat_p99" "$m_fix_rps" "$m_fix_p50" "$m_fix_p99" \
		"$m_fix_err" "$got/$sent" "$pct" "${d50}/${d99}" "$cpu_agent" "$pps"
	echo "       attach: ready ${ATTACH_MS} ms (CLI says ${READY_MS} ms), local nginx up ${LISTEN_MS} ms;" \
		"saturation copies: local got $sat_got of $m_sat_n wrk requests;"
	echo "       CPU % of a core during saturation: $m_cpu"
	echo "      " \
		"CPU % of a core while mirroring: agent $cpu_agent, bpfmirror CLI $cpu_cli, local nginx $cpu_twin;" \
		"agent RSS busy $((rss_busy / 1024)) MiB; drops (backlog + handoff_failed) $drops"
	[ -z "$BPF_STATS_OLD" ] || echo "       BPF programs, average per packet: $(bpf_cost)"
	stop_attach
	grep -q detached "$TMP/bm.err" || echo "       (no detached line: $(tail -n 1 "$TMP/bm.err"))"

	echo "$r $n_sat_rps $m_sat_rps $n_fix_p50 $m_fix_p50 $n_fix_p99 $m_fix_p99 $got $sent $ATTACH_MS $READY_MS $cpu_agent $pps $d50 $d99" >>"$SUM"
	r=$((r + 1))
done

echo
echo "ratios (mirror / none, same round) and targets:"
awk -v rss="$RSS_IDLE" -v ring="$RSS_RING" '
function pr(name, v, target) { printf "  %-40s %-28s %s\n", name, v, target }
function rng(a, b) { return a == b ? a : a "-" b }
{
	n++
	sat = $3 / ($2 > 0 ? $2 : 1); p50 = $5 / ($4 > 0 ? $4 : 1); p99 = $7 / ($6 > 0 ? $6 : 1)
	if (n == 1 || sat < smin) smin = sat; if (n == 1 || sat > smax) smax = sat
	if (n == 1 || p50 < amin) amin = p50; if (n == 1 || p50 > amax) amax = p50
	if (n == 1 || p99 < bmin) bmin = p99; if (n == 1 || p99 > bmax) bmax = p99
	got += $8; sent += $9
	if (n == 1 || $10 > att) att = $10; if (n == 1 || $11 > rdy) rdy = $11
	if (n == 1 || $12 > cpu) cpu = $12; pps += $13
	if (n == 1 || $15 > d99) d99 = $15; d50 += $14
}
END {
	if (n == 0) exit
	pr("pod saturation throughput", rng(sprintf("%.2f", smin), sprintf("%.2f", smax)), "target >= 0.85")
	pr("pod p50 at fixed rate", rng(sprintf("%.2f", amin), sprintf("%.2f", amax)), "")
	pr("pod p99 at fixed rate", rng(sprintf("%.2f", bmin), sprintf("%.2f", bmax)), "target <= 1.05")
	pr("requests the local process received", sprintf("%d/%d = %.2f %%", got, sent, sent ? 100 * got / sent : 0), "target 100 %")
	pr("local copy delay p50 / worst p99 (ms res.)", sprintf("%.1f / %.1f ms", d50 / n / 1000, d99 / 1000), "")
	pr("attach, start to ready (worst)", sprintf("%d ms (CLI: %d ms)", att, rdy), "target <= 300 ms")
	pr("agent RSS idle", sprintf("%.1f MiB (%.1f without BPF map mmaps)", rss / 1024, (rss - ring) / 1024), "target <= 10 MiB")
	pr("agent CPU while mirroring (worst)", sprintf("%.1f %% at %d pkt/s", cpu, pps / n), "target <= 10 % at 10k pkt/s")
}' "$SUM"

# ---- fresh connections: every request on its own connection ------------------------
# At a rate the baseline serves in full (checked and printed first), so that
# what the local nginx misses is the mirror's loss, not the pod's. The
# replayer's recovery (SYN retransmission up to 1 s apart, docs/design-replay.md)
# can deliver late: the wait for the local log allows for it, bounded.
[ "$FRESH_RATE" != 0 ] || exit 0
echo
echo "fresh connections: rateload -c1 -f1 -r$FRESH_RATE -d${FRESH_SECONDS}s (every request on a new connection, Connection: close)"
j=$(run_rate "$FRESH_RATE" "$FRESH_SECONDS" "/fresh?r=none" 1 1)
echo "  none:   pod answered $(echo "$j" | jq .ok)/$(echo "$j" | jq .sent) requests, p50 $(echo "$j" | jq .p50_us) us, p99 $(echo "$j" | jq .p99_us) us, errors $(echo "$j" | jq .errors)"
attach
j=$(run_rate "$FRESH_RATE" "$FRESH_SECONDS" "/fresh?r=mirror" 1 1)
served=$(echo "$j" | jq .ok)
# Bounded wait (15 s, or 3 s without a new line) for late copies.
want=$(echo "$j" | jq .sent)
last=-1 still=0 i=0
while [ $i -lt 150 ]; do
	got=$(twin_lines ' /fresh?r=mirror&t=')
	[ "$got" -ge "$want" ] && break
	if [ "$got" = "$last" ]; then still=$((still + 1)); else still=0; fi
	[ $still -ge 30 ] && break
	last=$got
	sleep 0.1
	i=$((i + 1))
done
set -- $(delays_of "/fresh?r=mirror&t=")
stop_attach
pct=$(awk -v a="$got" -v b="$served" 'BEGIN { if (b > 0) printf "%.2f", 100 * a / b; else print "-" }')
echo "  mirror: pod answered $served/$want requests, p50 $(echo "$j" | jq .p50_us) us, p99 $(echo "$j" | jq .p99_us) us, errors $(echo "$j" | jq .errors)"
echo "  requests the local process received / the pod answered: $got/$served = $pct % (target 100 %); local copy delay p50 / p99 $(awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f / %.1f", a / 1000, b / 1000}') ms"
summary=$(grep -o 'mirror: [0-9]* connections replayed.*' "$TMP/bm.err" | tail -n 1)
echo "  CLI at detach (includes the load's one idle keep-alive connection and kubelet probes): ${summary:-no summary line: $(tail -n 1 "$TMP/bm.err")}"
