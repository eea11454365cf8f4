"""Stage outputs: the dataset folder is built atomically (a kill mid-save never leaves a
dataset/ that the resumed stage would reuse), and a finished stage holds no temp files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from spin.io import built_once, write_json
from spin.pipeline.stage import Stage, Store


def test_a_failed_build_leaves_nothing_reusable_and_the_rerun_builds(tmp_path):
    folder = tmp_path / "dataset"

    def killed(out):
        out.mkdir()
        (out / "data-00000-of-00001.arrow").write_bytes(b"half")
        raise KeyboardInterrupt  # stands in for the kill during save_to_disk

    with pytest.raises(KeyboardInterrupt):
        built_once(folder, killed)
    assert not folder.exists()

    def build(out):
        out.mkdir()
        (out / "dataset_info.json").write_text("{}")
        return {"examples": 3}

    assert built_once(folder, build) == {"examples": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]  # no dataset.tmp left
    assert built_once(folder, killed) == {}  # complete: reused, not rebuilt


def test_a_finished_stage_keeps_no_temp_files_of_killed_writes(tmp_path):
    store = Store(tmp_path)

    @dataclass(frozen=True, eq=False)
    class Writes(Stage):
        kind: ClassVar[str] = "prepare"

        def params(self) -> dict:
            return {}

        def run(self, ctx) -> dict:
            write_json(ctx.workdir / "out.json", {"ok": 1})
            return {}

    stage = Writes("prepare")
    partial = store.partial(stage)
    (partial / "dataset.tmp").mkdir(parents=True)  # what kills in an earlier try left
    (partial / ".out.json.k2j4h1x9.tmp").write_text('{"o')
    final = store.run(stage, seed=0, config_hash="h")
    assert sorted(p.name for p in final.rglob("*")) == ["out.json", "run.json"]
    (tmp_path / "plain").write_text("")
    mode = (tmp_path / "plain").stat().st_mode & 0o777  # 0644 under the usual umask
    assert all(p.stat().st_mode & 0o777 == mode for p in final.iterdir())
