"""Suite definitions: which lm-eval subtasks make each paper number, read from eval/suites/*.yaml.

A suite maps each reported benchmark name (the `benchmark` column of
reports/reported_results.csv) to its lm-eval 0.4.13 subtasks, shot count, metric and
filter, and says how subtasks combine (plain or size-weighted mean). The YAML files are the
single source of truth; eval/README.md explains every mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from spin.errors import ConfigError, SpinError, nearest

MT_BENCH = "mt-bench"
AGGREGATES = ("mean", "size_weighted")


def eval_dir() -> Path:
    """The repository's eval/ folder (task YAMLs, suite and data manifests).

    It sits beside the spin package in the source tree; SPIN_EVAL_DIR overrides it for
    installs that keep eval/ elsewhere.
    """
    import os

    env = os.environ.get("SPIN_EVAL_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "eval"
    if not (path / "suites").is_dir():
        raise SpinError(f"eval definitions not found at {path} (set SPIN_EVAL_DIR)")
    return path


@dataclass(frozen=True)
class MetricRef:
    """One metric of an lm-eval task under one filter ('none' when the task has no filter)."""

    metric: str
    filter: str = "none"

    @property
    def key(self) -> str:
        """lm-eval's results key, e.g. 'exact_match,flexible-extract'."""
        return f"{self.metric},{self.filter}"


@dataclass(frozen=True)
class TaskSpec:
    """One reported number: lm-eval subtasks combined into a single value."""

    name: str
    subtasks: tuple[str, ...]
    shots: int
    primary: MetricRef
    aggregate: str = "mean"
    also: tuple[MetricRef, ...] = ()
    reported_metric: str | None = None
    requires: tuple[str, ...] = ()
    mean_of: tuple[MetricRef, ...] = ()
    """When set, the value is the plain mean of these metrics (IFEval's leaderboard score:
    prompt- and instruction-level strict accuracy); `primary` is the first of them."""
    nltk_data: tuple[str, ...] = ()
    """nltk resources the task's scoring loads (IFEval: tokenizers/punkt_tab)."""
    note: str | None = None
    """Written beside the value in results: what the number is where the name does not say
    (MATH: which exact_match)."""
    lm_eval_overrides: dict = field(default_factory=dict, hash=False, compare=False)
    """Task-config keys set on every subtask's group member, to run the task as the paper's
    harness did (GSM8K's v0.4.0 stop sequences, BBH sports_understanding's v0.4.0 shots)."""

    @property
    def metric_label(self) -> str:
        """The metric name written in results: the paper's name for it when it differs."""
        return self.reported_metric or self.primary.metric


@dataclass(frozen=True)
class Suite:
    name: str
    paper: str
    apply_chat_template: bool
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    lm_eval_dirs: tuple[str, ...] = ()
    """lm-eval task folders to index (all of lm_eval/tasks takes ~40 s to index)."""
    add_bos_token: bool | None = None
    """Passed to lm-eval's hf and vllm models: False never prepends BOS (lm-eval v0.4.0, the
    SPIN paper's harness), True always does, None leaves it to the tokenizer (0.4.13's default)."""

    @property
    def group(self) -> str:
        """Name of the generated lm-eval group (lm-eval names may not contain '-')."""
        return "spin_" + self.name.replace("-", "_")

    def subtasks(self) -> list[str]:
        return [s for t in self.tasks.values() for s in t.subtasks]

    def nltk_data(self) -> list[str]:
        return sorted({r for t in self.tasks.values() for r in t.nltk_data})

    def select(self, names: list[str] | None) -> Suite:
        """The suite restricted to some of its tasks (`--tasks`), in the suite's order."""
        if not names:
            return self
        unknown = [n for n in names if n not in self.tasks]
        if unknown:
            raise SpinError(
                f"--tasks: '{unknown[0]}' is not a task of suite {self.name}"
                f"{nearest(unknown[0], list(self.tasks))}; its tasks: {', '.join(self.tasks)}"
            )
        kept = {n: t for n, t in self.tasks.items() if n in names}
        return replace(self, tasks=kept)


def suite_names() -> list[str]:
    names = sorted(p.stem for p in (eval_dir() / "suites").glob("*.yaml"))
    return [*names, MT_BENCH]


def load_suite(name: str) -> Suite:
    """Read and check eval/suites/NAME.yaml."""
    import yaml

    path = eval_dir() / "suites" / f"{name}.yaml"
    if name == MT_BENCH or not path.exists():
        raise SpinError(
            f"unknown lm-eval suite '{name}'{nearest(name, suite_names())}; "
            f"suites: {', '.join(suite_names())}"
        )
    raw = yaml.safe_load(path.read_text())
    tasks = {}
    for tname, t in raw["tasks"].items():
        aggregate = t.get("aggregate", "mean")
        if aggregate not in AGGREGATES:
            raise ConfigError(f"{path}: tasks.{tname}.aggregate must be one of {AGGREGATES}")
        metrics = t["metric"] if isinstance(t["metric"], list) else [t["metric"]]
        refs = tuple(MetricRef(m, t.get("filter", "none")) for m in metrics)
        tasks[tname] = TaskSpec(
            name=tname,
            subtasks=tuple(t["subtasks"]),
            shots=int(t["shots"]),
            primary=refs[0],
            mean_of=refs if len(refs) > 1 else (),
            aggregate=aggregate,
            also=tuple(MetricRef(a["metric"], a.get("filter", "none")) for a in t.get("also", [])),
            reported_metric=t.get("reported_metric"),
            requires=tuple(t.get("requires", [])),
            nltk_data=tuple(t.get("nltk_data", [])),
            note=t.get("note"),
            lm_eval_overrides=dict(t.get("lm_eval_overrides") or {}),
        )
    bos = raw.get("add_bos_token")
    if bos not in (True, False, None):
        raise ConfigError(f"{path}: add_bos_token must be true, false or null, got {bos!r}")
    return Suite(
        raw["suite"],
        raw.get("paper", ""),
        bool(raw.get("apply_chat_template")),
        tasks,
        tuple(raw.get("lm_eval_dirs", [])),
        bos,
    )


def missing_requirements(suite: Suite) -> dict[str, list[str]]:
    """Python modules a suite's tasks import that are not installed, by task.

    lm-eval imports a task's hooks when it loads the task, so a missing optional
    dependency (IFEval's langdetect, MATH's math_verify) fails the whole run late; check early.
    """
    import importlib.util

    out: dict[str, list[str]] = {}
    for t in suite.tasks.values():
        gone = [m for m in t.requires if importlib.util.find_spec(m) is None]
        if gone:
            out[t.name] = gone
    return out
