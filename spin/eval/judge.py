"""MT-Bench judging through FastChat's own gen_judgment, run in the isolated judge venv.

fschat 0.2.36 needs openai<1, which conflicts with vLLM, so gen_judgment runs as a
subprocess of `.venv-judge/bin/python` with its working directory set to a folder laid out
as FastChat's `data/` tree (its paths are relative), and a newline on stdin for its
"Press Enter to confirm" prompt. Two settings are adjusted in that process before
gen_judgment's own __main__ runs, and nothing else: the judge model name is added to
fschat's OPENAI_MODEL_LIST (so any OpenAI-compatible server's model can judge), and its
retry count and sleep are set from JudgeConfig.

Resume: judgments are accumulated in one file; a run judges only the questions with a turn
that has no judgment yet. A judgment whose text is fschat's "$ERROR$" (the API failed after
fschat's retries) is dropped and retried, with exponential backoff between attempts.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from spin.errors import SpinError
from spin.io import append_jsonl, read_jsonl, write_jsonl

API_ERROR_OUTPUT = "$ERROR$"  # fastchat.llm_judge.common.API_ERROR_OUTPUT
OPENAI_BASE_URL = "https://api.openai.com/v1"

# Runs inside the judge venv: patch two fschat settings, then run gen_judgment's __main__.
_RUNNER = """
import os, runpy, sys
import fastchat.llm_judge.common as common
model = os.environ["SPIN_JUDGE_MODEL"]
if model not in common.OPENAI_MODEL_LIST:
    common.OPENAI_MODEL_LIST = (*common.OPENAI_MODEL_LIST, model)
common.API_MAX_RETRY = int(os.environ["SPIN_JUDGE_API_MAX_RETRY"])
common.API_RETRY_SLEEP = float(os.environ["SPIN_JUDGE_API_RETRY_SLEEP"])
sys.argv = ["gen_judgment", *sys.argv[1:]]
runpy.run_module("fastchat.llm_judge.gen_judgment", run_name="__main__")
"""


@dataclass
class JudgeConfig:
    """Which judge to call and how persistently."""

    model: str = "gpt-4"
    """The judge model's name at the endpoint (the paper: GPT-4, version not stated)."""
    base_url: str = OPENAI_BASE_URL
    """Any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for a local server."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (a loopback server needs none)."""
    python: str | None = None
    """The judge venv's python; default $SPIN_JUDGE_PYTHON or <repo>/.venv-judge/bin/python."""
    parallel: int = 2
    """Concurrent judge calls (gen_judgment --parallel)."""
    attempts: int = 4
    """gen_judgment runs at most this many times while judgments are missing."""
    backoff_s: float = 30.0
    """Sleep before retry k is backoff_s * 2**(k-1)."""
    api_max_retry: int = 16
    api_retry_sleep: float = 10.0
    """fschat's own per-call retry count and sleep (its defaults)."""

    def is_local(self) -> bool:
        """A loopback endpoint costs nothing; any other is treated as paid."""
        host = urlparse(self.base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def python_path(self) -> Path:
        path = self.python or os.environ.get("SPIN_JUDGE_PYTHON")
        if path:
            return Path(path)
        return Path(__file__).resolve().parents[2] / ".venv-judge" / "bin" / "python"


def judge_venv_available(cfg: JudgeConfig | None = None) -> bool:
    return (cfg or JudgeConfig()).python_path().exists()


def _key(j: dict) -> tuple[int, int]:
    return int(j["question_id"]), int(j["turn"])


def completed(judgments: list[dict]) -> dict[tuple[int, int], dict]:
    """Judgments that count as done, by (question_id, turn): all but API failures."""
    return {_key(j): j for j in judgments if j.get("judgment") != API_ERROR_OUTPUT}


def pending_questions(questions: list[dict], judgments_file: Path) -> list[dict]:
    done = completed(read_jsonl(judgments_file)) if judgments_file.exists() else {}
    return [q for q in questions if any((q["question_id"], t) not in done for t in (1, 2))]


def confirm_cost(cfg: JudgeConfig, n_calls: int, yes: bool) -> None:
    """Print the number of judge calls; stop before a paid endpoint unless `yes`."""
    where = "local" if cfg.is_local() else "PAID"
    print(
        f"MT-Bench judge: {n_calls} calls to {cfg.model} at {cfg.base_url} ({where})",
        file=sys.stderr,
    )
    if n_calls and not cfg.is_local() and not yes:
        raise SpinError(
            f"{n_calls} calls to the paid judge {cfg.model} at {cfg.base_url}: "
            "rerun with --yes to proceed"
        )


def prepare_workdir(
    workdir: Path, data: Path, questions: list[dict], answers: list[dict], model_id: str
) -> None:
    """Lay out FastChat's data/ tree: judge prompts, the questions to judge, the reference
    answers and this model's answers (the file name is the model id fschat reports)."""
    bench = workdir / "data" / "mt_bench"
    if bench.exists():
        shutil.rmtree(bench)
    (bench / "reference_answer").mkdir(parents=True)
    (bench / "model_answer").mkdir()
    shutil.copyfile(data / "judge_prompts.jsonl", workdir / "data" / "judge_prompts.jsonl")
    shutil.copyfile(
        data / "mt_bench" / "reference_answer" / "gpt-4.jsonl",
        bench / "reference_answer" / "gpt-4.jsonl",
    )
    write_jsonl(bench / "question.jsonl", questions)
    write_jsonl(bench / "model_answer" / f"{model_id}.jsonl", answers)


def run_gen_judgment(workdir: Path, cfg: JudgeConfig, model_id: str, log_file: Path) -> Path:
    """One gen_judgment run; returns the judgment file it wrote."""
    python = cfg.python_path()
    if not python.exists():
        raise SpinError(f"judge venv not found at {python}: create it with scripts/install.sh --judge "
                        "(or set SPIN_JUDGE_PYTHON)")  # fmt: skip
    key = os.environ.get(cfg.api_key_env)
    if not key:
        if not cfg.is_local():
            raise SpinError(f"set ${cfg.api_key_env} to the judge's API key")
        key = "EMPTY"
    env = {
        **os.environ, "OPENAI_API_BASE": cfg.base_url, "OPENAI_API_KEY": key,
        "SPIN_JUDGE_MODEL": cfg.model, "SPIN_JUDGE_API_MAX_RETRY": str(cfg.api_max_retry),
        "SPIN_JUDGE_API_RETRY_SLEEP": str(cfg.api_retry_sleep),
    }  # fmt: skip
    cmd = [str(python), "-c", _RUNNER, "--judge-model", cfg.model, "--mode", "single",
           "--model-list", model_id, "--parallel", str(cfg.parallel)]  # fmt: skip
    with open(log_file, "a") as log:
        proc = subprocess.run(
            cmd, cwd=workdir, env=env, input="\n", text=True, stdout=log, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        raise SpinError(f"fschat gen_judgment failed (exit {proc.returncode}); see {log_file}")
    return workdir / "data" / "mt_bench" / "model_judgment" / f"{cfg.model}_single.jsonl"


def judge(
    questions: list[dict], answers: list[dict], model_id: str, data: Path, judgments_file: Path,
    cfg: JudgeConfig, *, yes: bool = False,
) -> list[dict]:  # fmt: skip
    """Judge every (question, turn) not judged yet; returns all completed judgments.

    `judgments_file` accumulates fschat's judgment records across runs and attempts, so a
    crash or an API outage loses nothing already judged.
    """
    judgments_file.parent.mkdir(parents=True, exist_ok=True)
    workdir = judgments_file.with_suffix(".fschat")
    by_id = {a["question_id"]: a for a in answers}
    missing = [q["question_id"] for q in questions if q["question_id"] not in by_id]
    if missing:
        raise SpinError(f"no answers for MT-Bench questions {missing[:10]}")
    todo = pending_questions(questions, judgments_file)
    confirm_cost(cfg, 2 * len(todo), yes)
    for attempt in range(1, cfg.attempts + 1):
        if not todo:
            break
        if attempt > 1:
            time.sleep(cfg.backoff_s * 2 ** (attempt - 2))
        prepare_workdir(workdir, data, todo, [by_id[q["question_id"]] for q in todo], model_id)
        out = run_gen_judgment(workdir, cfg, model_id, judgments_file.with_suffix(".log"))
        new = read_jsonl(out) if out.exists() else []
        done = completed(read_jsonl(judgments_file)) if judgments_file.exists() else {}
        append_jsonl(
            judgments_file,
            [j for j in new if j.get("judgment") != API_ERROR_OUTPUT and _key(j) not in done],
        )
        todo = pending_questions(questions, judgments_file)
    if todo:
        raise SpinError(
            f"{len(todo)} MT-Bench questions still lack judgments after {cfg.attempts} attempts "
            f"(kept the rest in {judgments_file}); rerun to judge only what is missing"
        )
    wanted = {q["question_id"] for q in questions}
    return [j for j in completed(read_jsonl(judgments_file)).values() if j["question_id"] in wanted]
