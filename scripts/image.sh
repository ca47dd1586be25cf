#!/bin/sh
# Builds the agent image from agent/Dockerfile with the first usable container
# engine (docker with a running daemon, podman, buildah); with none it says so
# and exits 0 ("skipped"), so `make image` never fails for want of an engine.
#
# Environment: IMAGE (default ghcr.io/bpfmirror/agent), TAG (default the
# VERSION file), ENGINE (docker|podman|buildah: use this one or fail),
# PUSH=1 (push IMAGE:TAG after the build).
set -eu
cd "$(dirname "$0")/.."

version=$(cat VERSION)
image=${IMAGE:-ghcr.io/bpfmirror/agent}
tag=${TAG:-$version}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

usable() {
	command -v "$1" >/dev/null 2>&1 || return 1
	case $1 in
	docker) docker info >/dev/null 2>&1 ;;
	podman) podman info >/dev/null 2>&1 ;;
	buildah) buildah info >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

engine=${ENGINE:-}
if [ -n "$engine" ]; then
	if ! usable "$engine"; then
		echo "image: ENGINE=$engine is not usable (not installed, or no daemon)" >&2
		exit 1
	fi
else
	for e in docker podman buildah; do
		if usable "$e"; then
			engine=$e
			break
		fi
	done
fi
if [ -z "$engine" ]; then
	echo "image: no usable container engine (docker with a running daemon," \
		"podman or buildah); skipped"
	exit 0
fi

echo "image: building $image:$tag with $engine"
set -- -f agent/Dockerfile -t "$image:$tag" \
	--build-arg "VERSION=$version" --build-arg "REVISION=$revision" .
case $engine in
docker) DOCKER_BUILDKIT=1 docker build "$@" ;;
podman) podman build "$@" ;;
buildah) buildah build "$@" ;;
esac
echo "image: built $image:$tag"

if [ "${PUSH:-0}" = 1 ]; then
	"$engine" push "$image:$tag"
	echo "image: pushed $image:$tag"
fi
