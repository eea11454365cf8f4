"""Stage keys and printed commands are those of the snapshot tests/golden/stage_keys.json.

A stage's folder is `<kind>-<key>`: a key that changes by accident orphans every existing
run's outputs (and the stored losses of tests/golden/tiny_losses.json). The snapshot was
taken before the stage classes replaced the generic Stage; a key changed on purpose retakes
it (`python -m tests.stage_snapshot`) in the same commit."""

from __future__ import annotations

import json

import pytest

from tests.stage_snapshot import EXPERIMENTS, GOLDEN, experiment_snapshot

SNAPSHOT = json.loads(GOLDEN.read_text())


def test_the_snapshot_covers_every_shipped_experiment():
    assert sorted(SNAPSHOT) == [p.name for p in EXPERIMENTS]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_stage_folders_and_commands_are_the_snapshots(path):
    before, now = SNAPSHOT[path.name], experiment_snapshot(path)
    assert sorted(now) == sorted(before)
    for name in before:
        assert now[name]["sets"] == before[name]["sets"]
        assert now[name]["stages"] == before[name]["stages"], f"{path.name} --set {name}"
        for printed in ("plan", "plan_sha256", "dry_run"):
            assert now[name].get(printed) == before[name].get(printed), (
                f"{path.name} ({name}): {printed} differs"
            )
