"""The inputs of the lock files, as one sha256 that each lock records in its first line.

usage: python3 requirements/inputs.py hash [ROOT]     print the inputs' sha256
       python3 requirements/inputs.py check [ROOT]    exit 1 unless every lock records it

A lock is current when it was made from today's inputs: the dependency tables of
pyproject.toml, requirements/*.in and the resolution commands of requirements/lock.sh.
The check reads only those files, never the package registry, so a release upstream
cannot make it fail; an edit to the inputs without `requirements/lock.sh` does.
Formatting and comments are not inputs: pyproject.toml is compared as parsed data, and
comment lines of the .in files and lock.sh are left out. Standard library only, so it runs
before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

LOCKS = ("cpu.lock", "cpu-novllm.lock", "gpu.lock", "judge-cpu.lock", "judge-gpu.lock")
HEADER = "# inputs sha256: "


def _code_lines(path: Path) -> list[str]:
    """The lines of a requirements or shell file that are not blank or comments."""
    lines = (line.rstrip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def inputs_hash(root: Path) -> str:
    """sha256 of everything the locks are resolved from (see the module docstring)."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject.get("project", {})
    data = {
        "build-system": pyproject.get("build-system", {}),
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "in": {p.name: _code_lines(p) for p in sorted((root / "requirements").glob("*.in"))},
        "lock.sh": _code_lines(root / "requirements" / "lock.sh"),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def recorded_hash(lock: Path) -> str | None:
    """The inputs sha256 a lock's first line records, or None."""
    with lock.open(encoding="utf-8") as f:
        first = f.readline().strip()
    return first[len(HEADER) :].split()[0] if first.startswith(HEADER) else None


def check(root: Path) -> list[str]:
    """One message per lock that is missing or was made from other inputs."""
    want = inputs_hash(root)
    problems = []
    for name in LOCKS:
        lock = root / "requirements" / name
        if not lock.is_file():
            problems.append(f"requirements/{name} is missing")
        elif (got := recorded_hash(lock)) != want:
            problems.append(
                f"requirements/{name} was made from other inputs (records {got or 'no hash'}, "
                f"the inputs now hash to {want})"
            )
    return problems


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("hash", "check") or len(argv) > 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    root = Path(argv[1] if len(argv) == 2 else Path(__file__).resolve().parents[1])
    if argv[0] == "hash":
        print(inputs_hash(root))
        return 0
    problems = check(root)
    for line in problems:
        print(f"check_lock: {line}", file=sys.stderr)
    if problems:
        print(
            "check_lock: pyproject.toml's dependencies, requirements/*.in or requirements/lock.sh "
            "changed without a relock: run requirements/lock.sh and commit the locks",
            file=sys.stderr,
        )
        return 1
    print("check_lock: requirements/*.lock are current with their inputs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
