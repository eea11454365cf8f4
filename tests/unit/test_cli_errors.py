"""User mistakes that used to end in a traceback are one-line errors with exit status 2."""

from __future__ import annotations

import errno
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from spin.cli import main as spin
from spin.errors import SpinError
from spin.pipeline.stage import Stage, Store

TINY = Path(__file__).resolve().parents[2] / "replication" / "tiny.yaml"


@dataclass(frozen=True, eq=False)
class _Step(Stage):
    """A stage that writes nothing: only its folder, its input and its run.json matter."""

    kind: ClassVar[str] = "prepare"
    INPUTS: ClassVar[tuple[str, ...]] = ("data",)
    n: int = 0
    data: Stage | None = None

    def params(self) -> dict:
        return {"n": self.n}

    def run(self, ctx) -> dict:
        return {"ok": 1}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_read_only_output_folder(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # tests run as root, where chmod cannot refuse
        if self == ro / "run":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert spin(["run", str(TINY), "--output-dir", str(ro / "run"), "-q"]) == 2
    assert _one_error_line(capsys) == f"spin run: error: Permission denied: {ro / 'run'}"


def test_report_on_a_folder_without_results(tmp_path, capsys):
    (tmp_path / "other.json").write_text("{}")
    code = spin(["report", "--results-dir", str(tmp_path), "--output-dir", str(tmp_path / "r")])
    assert code == 2 and "no spin-results/1 files below it (1 other JSON" in _one_error_line(capsys)


def test_a_deleted_upstream_stage_is_named(tmp_path):
    store = Store(tmp_path)
    up = _Step("prepare", n=1)
    down = _Step("spin/iter0/pairs", data=up)
    store.run(up, seed=0, config_hash="h")
    shutil.rmtree(store.path(up))
    with pytest.raises(SpinError, match=r"needs prepare \(data\), but .*prepare-.* is missing"):
        store.run(down, seed=0, config_hash="h")


def test_experiment_path_that_is_a_folder(tmp_path, capsys):
    assert spin(["run", str(tmp_path)]) == 2
    assert "is a folder, expected an experiment YAML file" in _one_error_line(capsys)
