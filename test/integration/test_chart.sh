#!/bin/sh
# Lints and renders the Helm chart with default and non-default values, checks
# the rendered DaemonSet, RBAC and policy (test/chart/check_manifests.py), and
# makes sure broken manifests and invalid values are caught; the agent accepts
# the rendered policy. Needs no root and no cluster. helm (build/tools/bin,
# make deps) and python3-yaml are required: without them the test fails.
. "$(dirname "$0")/lib.sh"
root=$(pwd)
chart=charts/bpfmirror
helm=$root/build/tools/bin/helm
ns=bpfmirror

if [ ! -x "$helm" ]; then
	sh scripts/helm.sh >/dev/null 2>&1
fi
[ -x "$helm" ] || give_up "helm not installed and scripts/helm.sh failed (make deps)"
py=
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
		py=$p
		break
	fi
done
[ -n "$py" ] || give_up "no python3 with the yaml module (python3-yaml, make deps)"

make_temp
tmp=$T
# helm keeps its caches and config here, not in the user's home.
export HELM_CACHE_HOME="$tmp/cache" HELM_CONFIG_HOME="$tmp/config" \
	HELM_DATA_HOME="$tmp/data"

bad_out() { # bad_out TEXT: bad, with the output of the command that failed
	bad "$1"
	[ -s "$tmp/out" ] && sed 's/^/       /' "$tmp/out" | head -n 30
}
# run NAME CMD...: expects CMD to succeed.
run() {
	name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad_out "$name"; fi
}
# refuse NAME CMD...: expects CMD to fail.
refuse() {
	name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then bad_out "$name (was accepted)"; else ok "$name"; fi
}

custom=test/chart/values-custom.yaml
defaults=$chart/values.yaml
checker=test/chart/check_manifests.py

run "helm lint (defaults)" "$helm" lint --strict "$chart"
run "helm lint (custom values)" "$helm" lint --strict "$chart" -f "$custom"
run "helm template (defaults)" sh -c \
	"'$helm' template bpfmirror '$chart' -n $ns >'$tmp/default.yaml'"
run "helm template (custom values)" sh -c \
	"'$helm' template staging-agents '$chart' -n platform -f '$custom' >'$tmp/custom.yaml'"
run "rendered defaults satisfy the chart's promises" \
	"$py" "$checker" "$tmp/default.yaml" $ns "$defaults"
run "rendered custom values satisfy the chart's promises" \
	"$py" "$checker" "$tmp/custom.yaml" platform "$defaults" "$custom"

# The image tag defaults to the chart's appVersion, which must follow VERSION.
version=$(cat VERSION)
run "Chart.yaml appVersion and version follow VERSION ($version)" \
	grep -qx "appVersion: \"$version\"" "$chart/Chart.yaml"
run "Chart.yaml version follows VERSION" \
	grep -qx "version: $version" "$chart/Chart.yaml"

# The checker itself must notice broken manifests, or the checks above prove
# nothing: each mutation below breaks one promise.
mutate() {
	name=$1
	expr=$2
	sed "$expr" "$tmp/default.yaml" >"$tmp/mutant.yaml"
	if cmp -s "$tmp/default.yaml" "$tmp/mutant.yaml"; then
		bad_out "mutation '$name' changed nothing"
		return
	fi
	refuse "checker catches: $name" "$py" "$checker" "$tmp/mutant.yaml" $ns "$defaults"
}
mutate "control port on all addresses" 's/- 127\.0\.0\.1:/- 0.0.0.0:/'
mutate "privileged container" 's/privileged: false/privileged: true/'
mutate "extra capability" 's/- SYS_PTRACE/- SYS_PTRACE\n                - NET_RAW/'
mutate "capability missing" '/- PERFMON$/d'
mutate "no drop ALL" 's/- ALL$/- NET_RAW/'
mutate "write verb in ClusterRole" \
	's/resources: \[pods, services, endpoints, namespaces\]/&\n    verbs: [create]\n  - apiGroups: [""]\n    resources: [configmaps]/'
mutate "Role outside the release namespace" '/^kind: Role$/,/^rules:/s/namespace: bpfmirror/namespace: default/'
mutate "delete on pods in the Role" 's/verbs: \[get, create\]/verbs: [get, create, delete]/'
mutate "probe off the metrics port" '/readinessProbe:/,/port:/s/port: metrics/port: control/'
mutate "no host network" 's/hostNetwork: true/hostNetwork: false/'
mutate "duplicate key" 's/^  namespace: bpfmirror$/&\n  namespace: bpfmirror/'
mutate "policy drift" 's/- "\/etc\/shadow"/- "\/etc\/passwd"/'

# The values schema rejects mistakes before anything renders.
refuse "schema: misspelt policy key" \
	"$helm" template x "$chart" --set policy.steal.alowed=false
refuse "schema: unknown log level" "$helm" template x "$chart" --set logLevel=verbose
refuse "schema: control port out of range" "$helm" template x "$chart" --set controlPort=70000
refuse "schema: relative denied path" \
	"$helm" template x "$chart" --set 'policy.files.deniedPaths={etc/shadow}'
refuse "schema: extraCapabilities ALL" \
	"$helm" template x "$chart" --set 'securityContext.extraCapabilities={ALL}'
refuse "ServiceMonitor without the metrics Service" "$helm" template x "$chart" \
	--set metrics.serviceMonitor.enabled=true --set metrics.service.enabled=false

run "helm package" "$helm" package "$chart" -d "$tmp/pkg"

# The agent itself accepts the policy files the chart renders.
extract_policy() { # extract_policy RENDERED OUT
	python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "ConfigMap" and "policy.yaml" in d.get("data", {}):
        open(sys.argv[2], "w").write(d["data"]["policy.yaml"])
' "$1" "$2"
}
if [ -x build/bpfmirror-agent ]; then
	for v in default custom; do
		extract_policy "$tmp/$v.yaml" "$tmp/$v-policy.yaml"
		run "agent accepts the rendered policy ($v values)" \
			build/bpfmirror-agent --check-policy "$tmp/$v-policy.yaml"
	done
else
	bad "build/bpfmirror-agent missing (make all): the rendered policy is not checked"
fi

finish
