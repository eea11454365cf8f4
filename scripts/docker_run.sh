#!/usr/bin/env bash
# Run a replication in the project's Docker image on all GPUs of this machine.
#
# usage: scripts/docker_run.sh [options] EXPERIMENT.yaml [replicate_spin.sh options]
#
#   --image NAME      image to run (default: spin-replication; build: docker build -t spin-replication .)
#   --gpus SPEC       docker's --gpus value (default: all)
#   --runs DIR        host folder for outputs (default: ./runs)      -> /runs in the container
#   --hf-cache DIR    host Hugging Face cache (default: $HF_HOME or ~/.cache/huggingface)
#   --logs DIR        host folder for the console log (default: ./logs)
#   --print           print the docker command instead of running it
#
# EXPERIMENT.yaml is a path in the image's replication/ folder, or a file on this machine:
# then its folder is mounted read-only at /config, so the files it names with `base:`
# resolve. Options after it go to scripts/replicate_spin.sh in the container
# (--accelerate-config, --set, --dry-run ...); an --accelerate-config file on this machine
# is mounted read-only too. Outputs land where the experiment's output_dir says, under the
# runs folder: runs/<name>/seed<seed>/ as with `spin run` outside the image.
# HF_TOKEN and OPENAI_API_KEY (MT-Bench's judge) are passed through when set.
# Needs the NVIDIA Container Toolkit (docker run --gpus) on the host.
#
# example: scripts/docker_run.sh replication/spin-zephyr-7b.yaml \
#              --accelerate-config replication/accelerate/zero3-8gpu.yaml
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

image=spin-replication
gpus=all
runs="$PWD/runs"
hf_cache="${HF_HOME:-$HOME/.cache/huggingface}"
logs="$PWD/logs"
print=0
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --image) image="$2"; shift 2 ;;
        --gpus) gpus="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --hf-cache) hf_cache="$2"; shift 2 ;;
        --logs) logs="$2"; shift 2 ;;
        --print) print=1; shift ;;
        -*) echo "$(basename "$0"): unknown option '$1' (before EXPERIMENT.yaml)" >&2; exit 2 ;;
        *) break ;;
    esac
done
if (($# < 1)); then
    usage >&2
    exit 2
fi
experiment="$1"
shift
name="$(basename "$experiment" .yaml)"

mkdir -p "$runs" "$hf_cache" "$logs"
runs="$(cd "$runs" && pwd)"
hf_cache="$(cd "$hf_cache" && pwd)"
logs="$(cd "$logs" && pwd)"

docker_args=(
    run --rm --init
    --gpus "$gpus"
    # NCCL and PyTorch's dataloader workers share memory through /dev/shm.
    --ipc host --ulimit memlock=-1 --ulimit stack=67108864
    # Files written to the mounted folders belong to the calling user, not to root.
    --user "$(id -u):$(id -g)" --env HOME=/tmp
    --volume "$runs:/runs"
    --volume "$hf_cache:/cache/huggingface"
    --env HF_HOME=/cache/huggingface
)
for var in HF_TOKEN OPENAI_API_KEY; do
    if [[ -n "${!var:-}" ]]; then docker_args+=(--env "$var"); fi  # value from this env, not argv
done
# A file on this machine (not one of the image's replication/ files) is mounted with its folder.
mounted=""
mount_host_file() {  # mount_host_file FILE MOUNT_DIR: sets $mounted, the path in the container
    docker_args+=(--volume "$(cd "$(dirname "$1")" && pwd):$2:ro")
    mounted="$2/$(basename "$1")"
}
if [[ -f "$experiment" && "$experiment" != replication/* ]]; then
    mount_host_file "$experiment" /config
    experiment="$mounted"
fi
passed=()
while (($#)); do
    if [[ "$1" == --accelerate-config && -f "${2:-}" && "$2" != replication/* ]]; then
        mount_host_file "$2" /accelerate
        passed+=("$1" "$mounted")
        shift 2
    else
        passed+=("$1")
        shift
    fi
done
docker_args+=(
    --entrypoint /app/scripts/replicate_spin.sh
    "$image" "$experiment" "${passed[@]}"
)

if ((print)); then
    printf '%q ' docker "${docker_args[@]}"
    echo
    exit 0
fi
log="$logs/$name-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "logging to $log" >&2
docker "${docker_args[@]}" 2>&1 | tee "$log"
