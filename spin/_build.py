"""Build step (pyproject's [tool.setuptools.cmdclass]): bake the source's git commit into
the built package as spin/_build_info.py, so a non-editable install (`pip install .` from a
clone, or from git+URL) still knows the commit it was built from (spin.provenance).

Loaded by setuptools from this file alone, before the package exists: it imports nothing
from spin (so source_commit repeats spin.provenance.repository_commit's few git calls;
`import spin.provenance` here fails the editable install: spin is not importable then).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools.command.build_py import build_py

INFO = '"""Written by spin/_build.py when this package was built."""\n\nGIT_COMMIT = {commit!r}\n'


def source_commit(root: Path) -> str:
    """HEAD of the source tree being built (+'-dirty' for uncommitted changes to tracked
    files), or '' when it is not a git checkout (an sdist) or git is missing."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return ""  # an unpacked sdist inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return ""


class BuildPy(build_py):
    """setuptools' build_py, then spin/_build_info.py with the commit in the build folder."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install runs from the clone: git answers there
            return
        commit = source_commit(Path.cwd())
        target = Path(self.build_lib) / "spin" / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(INFO.format(commit=commit))
