"""MT-Bench judging through FastChat's own gen_judgment, run in the isolated judge venv.

fschat 0.2.36 needs openai<1, which conflicts with vLLM, so gen_judgment runs as a
subprocess of `.venv-judge/bin/python` with its working directory set to a folder laid out
as FastChat's `data/` tree (its paths are relative), and a newline on stdin for its
"Press Enter to confirm" prompt. Before gen_judgment's own __main__ runs, that process
adjusts only how calls are made and which are made, never the prompts or the parsing:
- the judge model name joins fschat's OPENAI_MODEL_LIST (any OpenAI-compatible model judges);
- fschat's retry count and sleep, and openai's request timeout (600 s by default), are set
  from JudgeConfig;
- matches whose (question, turn) is already judged are skipped, and a match that raises
  (e.g. a 200 reply without `choices`) is reported and skipped instead of stopping the rest.

Nothing judged is lost: fschat appends each judgment to its output file as it finishes, and
that file is merged into the accumulating judgments file after every attempt (whatever its
exit status) and, after a kill, at the start of the next run. A judgment whose text is
fschat's "$ERROR$" (the API failed after fschat's retries) is dropped and judged again, with
exponential backoff between attempts; one with an unparsable rating (score -1) counts as done
unless `retry_unparsable`.
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
from spin.io import append_jsonl, count_complete_lines, read_jsonl, write_json, write_jsonl
from spin.lock import folder_lock

API_ERROR_OUTPUT = "$ERROR$"  # fastchat.llm_judge.common.API_ERROR_OUTPUT
OPENAI_BASE_URL = "https://api.openai.com/v1"
TURNS = (1, 2)

# Runs inside the judge venv: adjust how and which calls are made, then gen_judgment's __main__.
_RUNNER = """
import json, os, runpy, sys, traceback
import openai.api_requestor
import fastchat.llm_judge.common as common
model = os.environ["SPIN_JUDGE_MODEL"]
if model not in common.OPENAI_MODEL_LIST:
    common.OPENAI_MODEL_LIST = (*common.OPENAI_MODEL_LIST, model)
common.API_MAX_RETRY = int(os.environ["SPIN_JUDGE_API_MAX_RETRY"])
common.API_RETRY_SLEEP = float(os.environ["SPIN_JUDGE_API_RETRY_SLEEP"])
openai.api_requestor.TIMEOUT_SECS = float(os.environ["SPIN_JUDGE_TIMEOUT"])
todo = {tuple(p) for p in json.load(open("todo.json"))}
play, failed = common.play_a_match_single, []
def play_todo(match, output_file):
    if (match.question["question_id"], 2 if match.multi_turn else 1) not in todo:
        return None
    try:
        return play(match, output_file)
    except Exception:
        failed.append(match.question["question_id"])
        traceback.print_exc()
common.play_a_match_single = play_todo
sys.argv = ["gen_judgment", *sys.argv[1:]]
runpy.run_module("fastchat.llm_judge.gen_judgment", run_name="__main__")
if failed:
    print(f"{len(failed)} judge calls raised (questions {sorted(set(failed))})", file=sys.stderr)
    sys.exit(3)
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
    send_key_to_loopback: bool = False
    """Send the key to a loopback endpoint too (by default it gets the dummy key "EMPTY")."""
    python: str | None = None
    """The judge venv's python; default $SPIN_JUDGE_PYTHON or <repo>/.venv-judge/bin/python."""
    parallel: int = 2
    """Concurrent judge calls (gen_judgment --parallel)."""
    timeout_s: float = 120.0
    """Per-request timeout (openai 0.28 waits 600 s)."""
    api_max_retry: int = 3
    api_retry_sleep: float = 10.0
    """fschat's own per-call tries and sleep between them (its defaults, 16 and 10 s, can
    hold one call for hours against a hanging endpoint)."""
    attempts: int = 4
    """gen_judgment runs at most this many times while judgments are missing."""
    backoff_s: float = 30.0
    """Sleep before retry k is backoff_s * 2**(k-1)."""
    retry_unparsable: bool = False
    """Judge again the (question, turn) pairs whose rating could not be parsed (score -1)."""

    def __post_init__(self):
        if "/" in self.model:
            raise SpinError(
                f"judge model '{self.model}': fschat names files after the judge, so it cannot "
                "contain '/' (serve it under another name, e.g. vLLM's --served-model-name)"
            )
        for name in ("parallel", "api_max_retry", "attempts"):
            if getattr(self, name) < 1:
                raise SpinError(f"judge {name} = {getattr(self, name)}: must be at least 1")
        for name in ("timeout_s",):
            if not getattr(self, name) > 0:
                raise SpinError(f"judge {name} = {getattr(self, name)}: must be > 0")
        for name in ("api_retry_sleep", "backoff_s"):
            if not getattr(self, name) >= 0:
                raise SpinError(f"judge {name} = {getattr(self, name)}: must be >= 0")

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

    def api_key(self) -> str:
        """The key to send: the configured one to a remote endpoint, "EMPTY" to a loopback
        one unless `send_key_to_loopback` (a local server must not collect a paid key)."""
        key = os.environ.get(self.api_key_env)
        if self.is_local():
            return key if key and self.send_key_to_loopback else "EMPTY"
        if not key:
            raise SpinError(f"set ${self.api_key_env} to the judge's API key")
        return key


def judge_venv_available(cfg: JudgeConfig | None = None) -> bool:
    return (cfg or JudgeConfig()).python_path().exists()


def _key(j: dict) -> tuple[int, int]:
    return int(j["question_id"]), int(j["turn"])


def completed(judgments: list[dict]) -> dict[tuple[int, int], dict]:
    """Judgments that count as done, by (question_id, turn), the latest of each: all but
    API failures."""
    return {_key(j): j for j in judgments if j.get("judgment") != API_ERROR_OUTPUT}


def load_judgments(judgments_file: Path) -> list[dict]:
    """The accumulated judgments (a torn last line from a kill is dropped)."""
    count_complete_lines(judgments_file)
    return read_jsonl(judgments_file) if judgments_file.exists() else []


def pending(questions: list[dict], judgments_file: Path, *, retry_unparsable: bool = False):
    """The (question_id, turn) pairs still to judge, in question order."""
    done = completed(load_judgments(judgments_file))
    return [
        (q["question_id"], t)
        for q in questions
        for t in TURNS
        if (q["question_id"], t) not in done
        or (retry_unparsable and float(done[q["question_id"], t]["score"]) == -1)
    ]


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
    workdir: Path,
    data: Path,
    questions: list[dict],
    answers: list[dict],
    model_id: str,
    judge_model: str,
    todo: list[tuple[int, int]],
) -> None:
    """Lay out FastChat's data/ tree: judge prompts, the questions to judge, the reference
    answers under the judge's name (fschat looks them up by it; they are GPT-4's), this
    model's answers (the file name is the model id fschat reports) and the pairs to judge."""
    bench = workdir / "data" / "mt_bench"
    if bench.exists():
        shutil.rmtree(bench)
    (bench / "reference_answer").mkdir(parents=True)
    (bench / "model_answer").mkdir()
    shutil.copyfile(data / "judge_prompts.jsonl", workdir / "data" / "judge_prompts.jsonl")
    shutil.copyfile(
        data / "mt_bench" / "reference_answer" / "gpt-4.jsonl",
        bench / "reference_answer" / f"{judge_model}.jsonl",
    )
    write_jsonl(bench / "question.jsonl", questions)
    write_jsonl(bench / "model_answer" / f"{model_id}.jsonl", answers)
    write_json(workdir / "todo.json", todo)


def fschat_output(workdir: Path, cfg: JudgeConfig) -> Path:
    return workdir / "data" / "mt_bench" / "model_judgment" / f"{cfg.model}_single.jsonl"


def harvest(workdir: Path, cfg: JudgeConfig, model_id: str, judgments_file: Path) -> int:
    """Move fschat's judgments (from a finished, failed or killed run) into `judgments_file`;
    returns how many were new. API failures are dropped; so are records another model or
    judge wrote (never mixed in)."""
    out = fschat_output(workdir, cfg)
    if not out.exists():
        return 0
    count_complete_lines(out)  # a kill may have torn the last line
    known = load_judgments(judgments_file)
    new = [
        j
        for j in read_jsonl(out)
        if j.get("judgment") != API_ERROR_OUTPUT
        and j.get("model") == model_id
        and list(j.get("judge", ()))[:1] == [cfg.model]
        and j not in known
    ]
    if new:
        append_jsonl(judgments_file, new)
    out.unlink()  # after the append: a kill in between only re-reads records already kept
    return len(new)


def run_gen_judgment(workdir: Path, cfg: JudgeConfig, model_id: str, log_file: Path) -> int:
    """One gen_judgment run; returns its exit status."""
    python = cfg.python_path()
    if not python.exists():
        raise SpinError(
            f"judge venv not found at {python}: create it with scripts/install.sh --judge "
            "(or set SPIN_JUDGE_PYTHON)"
        )
    # Only our endpoint and key reach openai: no inherited OPENAI_* setting redirects them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.pop(cfg.api_key_env, None)
    env.update(
        {
            "OPENAI_API_BASE": cfg.base_url,
            "OPENAI_API_KEY": cfg.api_key(),
            "SPIN_JUDGE_MODEL": cfg.model,
            "SPIN_JUDGE_API_MAX_RETRY": str(cfg.api_max_retry),
            "SPIN_JUDGE_API_RETRY_SLEEP": str(cfg.api_retry_sleep),
            "SPIN_JUDGE_TIMEOUT": str(cfg.timeout_s),
        }
    )
    cmd = [
        str(python),
        "-c",
        _RUNNER,
        "--judge-model",
        cfg.model,
        "--mode",
        "single",
        "--model-list",
        model_id,
        "--parallel",
        str(cfg.parallel),
    ]
    with open(log_file, "a") as log:
        proc = subprocess.run(
            cmd, cwd=workdir, env=env, input="\n", text=True, stdout=log, stderr=subprocess.STDOUT
        )
    return proc.returncode


def judge(
    questions: list[dict],
    answers: list[dict],
    model_id: str,
    data: Path,
    judgments_file: Path,
    cfg: JudgeConfig,
    *,
    yes: bool = False,
) -> list[dict]:
    """Judge every (question, turn) not judged yet; returns the completed judgments.

    `judgments_file` accumulates fschat's judgment records across runs and attempts, so a
    crash, a kill or an API outage loses nothing already judged. Its name carries the cache
    key (model, answers, judge, prompts), so it never holds another model's judgments.
    """
    judgments_file.parent.mkdir(parents=True, exist_ok=True)
    workdir = judgments_file.with_suffix(".fschat")
    workdir.mkdir(exist_ok=True)
    log_file = judgments_file.with_suffix(".log")
    by_id = {a["question_id"]: a for a in answers}
    missing = [q["question_id"] for q in questions if q["question_id"] not in by_id]
    if missing:
        raise SpinError(f"no answers for MT-Bench questions {missing[:10]}")
    with folder_lock(workdir):
        harvest(workdir, cfg, model_id, judgments_file)  # what a killed run had finished
        todo = pending(questions, judgments_file, retry_unparsable=cfg.retry_unparsable)
        confirm_cost(cfg, len(todo), yes)
        before, status = completed(load_judgments(judgments_file)), 0
        for attempt in range(1, cfg.attempts + 1):
            if not todo:
                break
            if attempt > 1:
                time.sleep(cfg.backoff_s * 2 ** (attempt - 2))
            ids = {q for q, _ in todo}
            group = [q for q in questions if q["question_id"] in ids]
            prepare_workdir(
                workdir,
                data,
                group,
                [by_id[q["question_id"]] for q in group],
                model_id,
                cfg.model,
                todo,
            )
            status = run_gen_judgment(workdir, cfg, model_id, log_file)
            harvest(workdir, cfg, model_id, judgments_file)
            now = completed(load_judgments(judgments_file))
            # done once judged in this run: a retried unparsable rating is not retried again
            todo = [p for p in todo if p not in now or now[p] == before.get(p)]
    if todo:
        raise SpinError(
            f"{len(todo)} MT-Bench judgments still missing after {cfg.attempts} attempts "
            f"(last exit status {status}; see {log_file}); kept the rest in {judgments_file}: "
            "rerun to judge only what is missing"
        )
    wanted = {q["question_id"] for q in questions}
    judged = [
        j for j in completed(load_judgments(judgments_file)).values() if j["question_id"] in wanted
    ]
    unparsable = sum(1 for j in judged if float(j["score"]) == -1)
    if unparsable:
        print(
            f"MT-Bench judge: warning: {unparsable} of {len(judged)} ratings could not be parsed "
            "(score -1, left out of the scores as fschat does); rerun with --retry-unparsable "
            "to judge them again",
            file=sys.stderr,
        )
    return judged
