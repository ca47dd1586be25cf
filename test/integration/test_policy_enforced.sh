#!/bin/sh
# The agent enforces its policy against a client that tries to break it
# (issue 11): simcluster runs the agent with --policy (namespace deny list,
# filtered steal only, a required X-Dev header, denied files and env), and a
# developer tries, in turn: a denied namespace, a whole-connection steal,
# filters that would match others' requests (`X-Dev:|.`, a regex value, a
# path-only filter, a value outside the pattern), and, once attached with the
# unanchored filter 'X-Dev: team-a', requests whose X-Dev is not exactly
# team-a but which that regex matches (team-ab, TEAM-A, a Referer with the
# text, a second X-Dev header): the pod must answer those. Then a denied file,
# its directory listing and a denied variable. Root only; 77 = skipped.
# KEEP=1 keeps the temporary directory as /tmp/keep_policy.
. "$(dirname "$0")/lib.sh"
need jq curl
A=
on_exit() {
	[ -n "$KEEP" ] && cp -r "$T" /tmp/keep_policy
	[ -n "$A" ] && kill "$A" 2>/dev/null && sleep 0.3 && kill -9 "$A" 2>/dev/null
}
make_temp
chmod 0755 "$T"
cat >"$T/policy.yaml" <<'EOF'
version: 1
namespaces:
  allow: []
  deny:
    - "kube-*"
    - "bpfmirror"
mirror:
  allowed: true
steal:
  allowed: true
  allow_whole_connection: false
  require_header: "X-Dev"
  require_header_pattern: "[a-z][a-z0-9-]*"
files:
  denied_paths:
    - "/var/run/secrets/**"
    - "/run/secrets/**"
    - "/proc/**"
    - "/sys/**"
    - "/dev/**"
    - "/app/**"
env:
  denied_names:
    - "REDIS*"
EOF
build/bpfmirror-agent --check-policy "$T/policy.yaml" >/dev/null || give_up "the test's policy is invalid"
# The agent slot as simcluster runs it, plus --policy (the chart passes it the same way).
sed "/^            - \$(NODE_NAME)\$/a\\
            - --policy\\
            - $T/policy.yaml" test/cluster/agent/bpfmirror-agent.yaml >"$T/agent.yaml"
grep -q -- "--policy" "$T/agent.yaml" || give_up "cannot add --policy to the agent manifest"
CLUSTER=1
SIMCLUSTER_AGENT=0 $SC up test/cluster/manifests/*.yaml "$T/agent.yaml" >"$T/up.log" 2>&1 ||
	{ cat "$T/up.log"; give_up "simcluster up"; }
STATE=$($SC state)
KUBECONFIG=$($SC kubeconfig)
export KUBECONFIG

# attach NAME ARGS...: a short attach expected to be refused; its stderr in $T/NAME.err.
refused() {
	_n=$1
	_want=$2
	shift 2
	timeout 30 build/bpfmirror attach "$@" --connect direct -- true >"$T/$_n.out" 2>"$T/$_n.err"
	_rc=$?
	if [ $_rc -ne 0 ] && grep -q "$_want" "$T/$_n.err"; then
		ok "$_n: refused ($(grep -o "$_want.*" "$T/$_n.err" | head -1 | cut -c1-100))"
	else
		bad "$_n: rc $_rc, $(tail -2 "$T/$_n.err")"
	fi
}

# ---- namespaces ------------------------------------------------------------
AGENT_POD=$(jq -r '.pods[] | select(.namespace == "bpfmirror") | .name' "$STATE" | head -1)
[ -n "$AGENT_POD" ] || give_up "no agent pod in the state"
refused "denied namespace" "namespace 'bpfmirror'" -n bpfmirror "pod/$AGENT_POD"

# ---- steal: only with one literal X-Dev value --------------------------------
refused "whole-connection steal" "only filtered steal" deployment/ip-visit-counter --steal
refused "filter X-Dev:|." "literal value for header 'X-Dev'" deployment/ip-visit-counter --steal --header 'X-Dev:|.'
refused "regex value" "literal value for header 'X-Dev'" deployment/ip-visit-counter --steal --header '^X-Dev: team.*$'
refused "path-only filter" "header filter on 'X-Dev'" deployment/ip-visit-counter --steal --path '^/'
refused "value outside the pattern" "must match" deployment/ip-visit-counter --steal --header 'X-Dev: Team-A'

# (/app is denied: the local app runs without its response file.)
# Unanchored on purpose: the regex matches more than team-a; the router must not.
LOCAL_TAG=team-a build/bpfmirror attach deployment/ip-visit-counter --steal \
	--header 'X-Dev: team-a' --connect direct -- \
	env -u RESPONSEFILE build/apps/ip-visit-counter-local >"$T/a.out" 2>"$T/a.err" &
A=$!
wait_for "$T/a.err" 'stealing port 8080' 150 || { cat "$T/a.err"; give_up "team-a never stole"; }
sleep 0.5
# ask NAME WANT CURL-ARGS...: who answers a request with these headers.
ask() {
	_n=$1
	_want=$2
	shift 2
	_got=$($SC client -- curl -s -m 5 "$@" http://ip-visit-counter/count | jq -r .build 2>/dev/null)
	[ "$_got" = "$_want" ] && ok "$_n: answered by $_got" || bad "$_n: answered by '$_got', not '$_want'"
}
ask "X-Dev: team-a" "local build (team-a)" -H 'X-Dev: team-a'
ask "X-Dev: team-ab" deployed -H 'X-Dev: team-ab'
ask "X-Dev: TEAM-A" deployed -H 'X-Dev: TEAM-A'
ask "Referer carrying 'X-Dev: team-a'" deployed -H 'Referer: http://x/?X-Dev: team-a'
ask "a second X-Dev header" deployed -H 'X-Dev: team-a' -H 'X-Dev: team-b'
ask "no header" deployed
kill -INT "$A"
wait_exit "$A" 50 || bad "team-a still runs 5 s after SIGINT"
A=

# ---- files and env -----------------------------------------------------------
timeout 30 build/bpfmirror attach deployment/ip-visit-counter --connect direct -- sh -c '
cat /app/response.txt 2>/dev/null && echo "file: read" || echo "file: denied"
echo "listing: $(ls -A /app 2>/dev/null | tr "\n" " ")."
echo "env: ${REDISADDRESS:-withheld}"
echo "hostname: $(hostname)"' >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 0 ] && ok "mirror attach with denied files ran" || bad "files attach: rc $rc, $(tail -2 "$T/f.err")"
grep -q '^file: denied$' "$T/f.out" && ok "denied file not readable" || bad "denied file: $(cat "$T/f.out")"
grep -q 'Hello from' "$T/f.out" && bad "denied file's content reached the developer"
grep -q '^listing: \.$' "$T/f.out" && ok "listing of /app omits the denied file" || bad "listing: $(grep listing "$T/f.out")"
grep -q '^env: withheld$' "$T/f.out" && ok "denied variable withheld" || bad "env: $(grep env: "$T/f.out")"
grep -q '^hostname: ip-visit-counter-' "$T/f.out" && ok "the command ran as the pod" || bad "hostname: $(grep hostname "$T/f.out")"
finish
