"""provenance.git_commit names the commit of the code that runs: from a clone in any folder
(git answers there) and from a non-editable install (the commit baked in at build time)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GIT_ID = ["-c", "user.email=test@example.com", "-c", "user.name=test"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of this repository in another folder, with the working tree's package and
    pyproject.toml committed on top (so the code under test is what runs)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    dest = tmp_path_factory.mktemp("elsewhere") / "clone"
    _git(REPO.parent, "clone", "-q", "--no-hardlinks", str(REPO), str(dest))
    shutil.rmtree(dest / "spin")
    shutil.copytree(REPO / "spin", dest / "spin", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    _git(dest, "add", "-A", "spin", "pyproject.toml")
    _git(dest, "commit", "-q", "--allow-empty", "-m", "the working tree under test")
    return dest


def _commit_seen(pythonpath: Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SPIN_GIT_COMMIT"}
    env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-c", "from spin.provenance import git_commit; print(git_commit())"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_clone_in_another_folder_reports_its_own_head(clone, tmp_path):
    head = _git(clone, "rev-parse", "HEAD")
    assert _commit_seen(clone, tmp_path) == head
    # A tracked file changed: the same commit, marked dirty.
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    try:
        assert _commit_seen(clone, tmp_path) == head + "-dirty"
    finally:
        _git(clone, "checkout", "--", "README.md")


def test_a_non_editable_install_reports_the_commit_it_was_built_from(clone, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",  # setuptools from this venv: no download
            "--target",
            str(target),
            str(clone),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (target / "spin" / "_build_info.py").is_file()
    assert not (target / ".git").exists()
    assert _commit_seen(target, tmp_path) == _git(clone, "rev-parse", "HEAD")


def test_an_install_inside_another_repository_does_not_take_its_commit(tmp_path):
    """A package folder below some repository's top level (a venv inside a clone) is not
    that repository's code: repository_commit answers only for the top level itself."""
    from spin.provenance import repository_commit

    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "other project")
    (tmp_path / "site").mkdir()
    assert repository_commit(tmp_path / "site") is None
    assert repository_commit(tmp_path) == _git(tmp_path, "rev-parse", "HEAD")
