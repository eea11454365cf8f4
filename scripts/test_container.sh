#!/usr/bin/env bash
# Build the Dockerfile's cpu target and run the tiny preset in it: as the image's non-root
# user, with no network, every output under the mounted /runs volume.
#
# usage: scripts/test_container.sh [--base IMAGE] [--runs DIR] [--keep] [-h|--help]
#
#   --base IMAGE  the base to build on (default: python:3.11-slim-bookworm if this Docker
#                 has it, else a stand-in made here: debootstrap of Debian bookworm with
#                 python3.11, imported as spin-base:bookworm and reused on later runs)
#   --runs DIR    host folder mounted at /runs (default: a temporary folder, removed after)
#   --keep        keep the image spin-replication:cpu-test afterwards
#
# Needs a running Docker engine (on Debian: apt-get install docker.io debootstrap, then
# dockerd). The torch 2.13.0+cpu wheel, which is not on PyPI, is taken from PIP_FIND_LINKS
# (default /opt/wheels) into the build context; this machine's extra CA certificates
# (/usr/local/share/ca-certificates/*.crt, for a TLS-inspecting proxy) go in as
# EXTRA_CA_CERTS. punkt_tab is left out (PUNKT_TAB=0): its source is not a package registry.
# Prints each step's wall time; exit 0 only if the run reached its table, wrote only under
# /runs, and its files belong to the image's user (uid 10001).
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

base=""
runs=""
keep=0
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --base) base="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "test_container.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
image=spin-replication:cpu-test
say() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
    echo "test_container.sh: no Docker engine answers (start dockerd first)" >&2
    exit 1
fi

if [[ -z "$base" ]]; then
    if docker image inspect python:3.11-slim-bookworm >/dev/null 2>&1; then
        base=python:3.11-slim-bookworm
    else
        base=spin-base:bookworm
        if ! docker image inspect "$base" >/dev/null 2>&1; then
            say "making the stand-in base $base with debootstrap"
            rootfs="$(mktemp -d)"
            debootstrap --variant=minbase \
                --include=python3.11,python3.11-venv,python3-distutils,ca-certificates \
                bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
            tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
            rm -rf "$rootfs"
        fi
    fi
fi
say "base image: $base"

# The build context gets the +cpu torch wheel for the build only.
wheels="$root/requirements/wheels"
# shellcheck disable=SC2329  # called by the trap below
cleanup() {
    rm -rf "$wheels"
    if [[ -n "${tmp_runs:-}" ]]; then rm -rf "$tmp_runs"; fi
    if ((!keep)); then docker image rm -f "$image" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
mkdir -p "$wheels"
for dir in ${PIP_FIND_LINKS:-/opt/wheels}; do
    if [[ -d "$dir" ]]; then cp -l "$dir"/torch-2.13.0+cpu-*.whl "$wheels"/ 2>/dev/null || cp "$dir"/torch-2.13.0+cpu-*.whl "$wheels"/ || true; fi
done
extra_ca=""
for crt in /usr/local/share/ca-certificates/*.crt; do
    if [[ -f "$crt" ]]; then extra_ca+="$(cat "$crt")"$'\n'; fi
done

start=$SECONDS
say "docker build --target cpu"
docker build --target cpu --tag "$image" \
    --build-arg CPU_BASE_IMAGE="$base" \
    --build-arg EXTRA_CA_CERTS="$extra_ca" \
    --build-arg PUNKT_TAB=0 \
    --build-arg GIT_COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    . >&2
build_s=$((SECONDS - start))
say "built in ${build_s} s; image size $(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.2f GB", $1 / 1e9}')"

if [[ -z "$runs" ]]; then
    tmp_runs="$(mktemp -d)"
    runs="$tmp_runs"
fi
mkdir -p "$runs"
chmod 0777 "$runs"  # the image's user (uid 10001) writes here
runs="$(cd "$runs" && pwd)"
name="spin-container-test-$$"
start=$SECONDS
say "docker run ... spin run replication/tiny.yaml (no network, as uid 10001)"
docker run --name "$name" --network none --volume "$runs:/runs" "$image" \
    run replication/tiny.yaml | tee "$runs/console.txt"
run_s=$((SECONDS - start))
# Nothing written outside the volumes: the container's own changes are /tmp and home only.
outside="$(docker diff "$name" | awk '{print $2}' | grep -v -E '^/(tmp|home/spin)(/|$)' || true)"
docker rm "$name" >/dev/null

status=0
if [[ -n "$outside" ]]; then
    echo "test_container.sh: the run wrote outside /runs:" >&2
    echo "$outside" | head -20 >&2
    status=1
fi
out="$runs/tiny/seed42"
for file in summary.md accuracy.png results; do
    if [[ ! -e "$out/$file" ]]; then
        echo "test_container.sh: $out/$file is missing" >&2
        status=1
    fi
done
owners="$(find "$out" -not -uid 10001 | head -5)"
if [[ -n "$owners" ]]; then
    echo "test_container.sh: files not owned by the image's user: $owners" >&2
    status=1
fi
say "tiny preset ran in ${run_s} s (build ${build_s} s)"
if ((status == 0)); then say "container check passed"; fi
exit "$status"
