"""Build step (pyproject's [tool.setuptools.cmdclass]): bake the source's git commit into
the built package as spin/_build_info.py, so a non-editable install (`pip install .` from a
clone, or from git+URL) still knows the commit it was built from (spin.provenance).

Loaded by setuptools from the source tree before the package is built: it imports only
spin.provenance, which needs nothing but the standard library.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py

from spin.provenance import repository_commit  # stdlib only: safe before the build

INFO = '"""Written by spin/_build.py when this package was built."""\n\nGIT_COMMIT = {commit!r}\n'


class BuildPy(build_py):
    """setuptools' build_py, then spin/_build_info.py with the commit in the build folder."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install runs from the clone: git answers there
            return
        commit = repository_commit(Path.cwd()) or ""
        target = Path(self.build_lib) / "spin" / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(INFO.format(commit=commit))
