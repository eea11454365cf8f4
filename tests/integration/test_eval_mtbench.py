"""MT-Bench end to end: fschat's real gen_judgment (in .venv-judge) against a loopback
OpenAI-compatible server that stands in for GPT-4 only, answering "Rating: [[k]]".

Skips when the judge venv or the FastChat data copy is absent (the lead's .ci/run makes the
venv; the data is read from ../shared/data/mt_bench and never committed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from spin.eval.judge import JudgeConfig, judge_venv_available
from tests.shared import shared_path

SHARED = shared_path("data", "mt_bench", marker="question.jsonl")

pytestmark = [
    pytest.mark.skipif(
        not judge_venv_available(), reason="no .venv-judge (scripts/install.sh --judge)"
    ),
    pytest.mark.skipif(SHARED is None, reason="no FastChat data copy in ../shared/data/mt_bench"),
]


class FakeJudge:
    """The stand-in for GPT-4: rates single-turn prompts 7 and multi-turn prompts 4, and can
    fail its first `fail_first` requests with HTTP 500 (a transient outage). `script` lists
    faults for the next requests, one per request: "500", "hang" (answers after 3 s),
    "no-choices" (200 without `choices`), "unparsable" (a reply with no rating), "block"
    (holds the request until close), or "ok"."""

    def __init__(self, fail_first: int = 0, script: list[str] | None = None):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.script = list(script or [])
        self.blocked = threading.Event()
        self.release = threading.Event()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append(
                    {"path": self.path, "authorization": self.headers.get("Authorization"), **body}
                )
                fault = judge.script.pop(0) if judge.script else "ok"
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self.send_error(404)
                    return
                if len(judge.requests) <= judge.fail_first or fault == "500":
                    self.send_error(500, "transient")
                    return
                if fault == "block":
                    judge.blocked.set()
                    judge.release.wait(120)
                    return
                if fault == "hang":
                    time.sleep(3)
                text = "\n".join(m["content"] for m in body["messages"])
                rating = 4 if "Conversation with User" in text else 7
                content = (
                    "I cannot rate this."
                    if fault == "unparsable"
                    else f"Fine. Rating: [[{rating}]]"
                )
                reply = {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": content},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                if fault == "no-choices":
                    del reply["choices"]
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client timed out and hung up
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def fake_judge():
    j = FakeJudge()
    yield j
    j.close()


@pytest.fixture(scope="module")
def mtbench_data(tmp_path_factory) -> Path:
    """SHARED laid out as FastChat's data/ folder."""
    d = tmp_path_factory.mktemp("fastchat_data")
    (d / "mt_bench" / "reference_answer").mkdir(parents=True)
    shutil.copyfile(SHARED / "judge_prompts.jsonl", d / "judge_prompts.jsonl")
    shutil.copyfile(SHARED / "question.jsonl", d / "mt_bench" / "question.jsonl")
    shutil.copyfile(
        SHARED / "reference_answer" / "gpt-4.jsonl",
        d / "mt_bench" / "reference_answer" / "gpt-4.jsonl",
    )
    return d


# One writing, one math (judged against the GPT-4 reference answer) and one coding question.
QIDS = (81, 111, 121)


def _answers(path: Path, model_id: str = "my-model") -> Path:
    rows = [
        {
            "question_id": q,
            "answer_id": f"a{q}",
            "model_id": model_id,
            "tstamp": 0.0,
            "choices": [
                {
                    "index": 0,
                    "turns": [
                        f"first answer {q} by {model_id}",
                        f"second answer {q} by {model_id}",
                    ],
                }
            ],
        }
        for q in QIDS
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judge_answers_file_through_fschat_and_resume(tmp_path, mtbench_data, fake_judge):
    from spin.cli import main

    answers, out = _answers(tmp_path / "answers.jsonl"), tmp_path / "out"
    argv = [
        "eval",
        "mt-bench",
        "--answers",
        str(answers),
        "--mtbench-data",
        str(mtbench_data),
        "--judge-model",
        "gpt-4",
        "--judge-base-url",
        fake_judge.url,
        "--output-dir",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads((out / "mt-bench.json").read_text())
    assert res["schema"] == "spin-results/1" and res["suite"] == "mt-bench"
    assert res["tasks"]["turn1"]["value"] == 7 and res["tasks"]["turn2"]["value"] == 4
    assert res["tasks"]["mt_bench"]["value"] == pytest.approx(5.5) == res["average"]
    assert res["tasks"]["mt_bench"]["n"] == 6 and res["tasks"]["mt_bench"]["stderr"] == 0.0
    assert set(res["tasks"]) == {"turn1", "turn2", "writing", "math", "coding", "mt_bench"}
    assert res["provenance"]["judge"]["model"] == "gpt-4"
    # fschat's own prompts went to the judge: 2 calls per question, math with the reference.
    assert len(fake_judge.requests) == 6
    assert all(r["model"] == "gpt-4" and r["temperature"] == 0 for r in fake_judge.requests)
    assert sum("[The Start of Reference Answer]" in json.dumps(r) for r in fake_judge.requests) == 2
    samples = [
        json.loads(line) for line in (out / "mt-bench.samples.jsonl").read_text().splitlines()
    ]
    assert {(s["task"], str(s["doc_id"])) for s in samples} >= {
        ("mt_bench", "111-2"),
        ("turn1", "111"),
    }
    # A rerun judges only what is missing: nothing.
    assert main(argv) == 0
    assert len(fake_judge.requests) == 6
    assert json.loads((out / "mt-bench.json").read_text())["tasks"]["mt_bench"][
        "value"
    ] == pytest.approx(5.5)


@pytest.mark.slow  # two more gen_judgment runs (~50 s: fschat imports torch in its venv)
def test_transient_judge_errors_are_retried(tmp_path, mtbench_data):
    from spin.eval.mtbench import evaluate_mtbench

    judge = FakeJudge(fail_first=2)
    try:
        cfg = JudgeConfig(
            base_url=judge.url, parallel=1, api_max_retry=1, api_retry_sleep=0, backoff_s=0
        )
        path = evaluate_mtbench(
            None,
            tmp_path,
            model_info={"name": "m", "method": "x", "base_model": "b"},
            judge=cfg,
            mtbench_data=mtbench_data,
            answers_file=_answers(tmp_path / "a.jsonl"),
        )
    finally:
        judge.close()
    res = json.loads(path.read_text())
    assert res["tasks"]["mt_bench"]["n"] == 6  # the two failed calls were judged again
    # With --parallel 1 fschat judges all first turns first, so the failures hit two first
    # turns; a retry judges only those (question, turn) pairs: 6 + 2 = 8 calls.
    assert len(judge.requests) == 8
    (judgments,) = tmp_path.glob("mt-bench.judgments.gpt-4.*.jsonl")
    lines = judgments.read_text().splitlines()
    assert len(lines) == 6 and "$ERROR$" not in "".join(lines)


def test_generate_answers_and_judge(tmp_path, mtbench_data, tiny_model_dir, fake_judge):
    from spin.eval import evaluate

    cfg = JudgeConfig(base_url=fake_judge.url)
    path = evaluate(
        "mt-bench",
        str(tiny_model_dir),
        tmp_path,
        model_info={"name": "tiny sft", "method": "sft", "iteration": None, "base_model": "tiny"},
        judge=cfg,
        mtbench_data=mtbench_data,
        limit=2,
        max_new_tokens=8,
    )
    (answers_file,) = tmp_path.glob("mt-bench.answers.tiny-sft.*.jsonl")
    answers = [json.loads(line) for line in answers_file.read_text().splitlines()]
    assert [a["question_id"] for a in answers] == [81, 82]
    assert all(a["model_id"] == "tiny-sft" and len(a["choices"][0]["turns"]) == 2 for a in answers)
    res = json.loads(path.read_text())
    assert res["tasks"]["mt_bench"]["n"] == 4 and res["model"]["path"] == str(tiny_model_dir)
    # Prompted as gen_model_answer: FastChat's template for the id ("tiny-sft": its fallback).
    gen = res["provenance"]["generation"]
    assert gen["prompt"] == "fastchat" and gen["fastchat_template"] == "one_shot"
    # The judge saw our answers inside fschat's single-answer prompt.
    assert any(
        answers[0]["choices"][0]["turns"][0] in r["messages"][-1]["content"]
        for r in fake_judge.requests
    )


def _judge_argv(answers: Path, out: Path, data: Path, url: str, *extra: str) -> list[str]:
    return [
        "eval",
        "mt-bench",
        "--answers",
        str(answers),
        "--mtbench-data",
        str(data),
        "--judge-base-url",
        url,
        "--output-dir",
        str(out),
        *extra,
    ]


@pytest.mark.slow  # three gen_judgment runs
def test_caches_are_keyed_by_answers_and_judge(tmp_path, mtbench_data, fake_judge):
    """Another model's answers, or another judge, into the same folder are judged afresh and
    reported under their own name; the same again judges nothing. A dated judge name works."""
    from spin.cli import main

    out = tmp_path / "out"
    a, b = _answers(tmp_path / "a.jsonl"), _answers(tmp_path / "b.jsonl", "other-model")
    assert main(_judge_argv(a, out, mtbench_data, fake_judge.url)) == 0
    assert len(fake_judge.requests) == 6
    assert main(_judge_argv(b, out, mtbench_data, fake_judge.url)) == 0
    assert len(fake_judge.requests) == 12
    res = json.loads((out / "mt-bench.json").read_text())
    assert res["model"]["name"] == "other-model" and res["provenance"]["model_id"] == "other-model"
    assert all("by other-model" in json.dumps(r) for r in fake_judge.requests[6:])
    # a pinned, dated judge: fschat finds the GPT-4 references under its name
    argv = _judge_argv(a, out, mtbench_data, fake_judge.url, "--judge-model", "gpt-4-0613")
    assert main(argv) == 0
    dated = fake_judge.requests[12:]
    assert len(dated) == 6 and all(r["model"] == "gpt-4-0613" for r in dated)
    assert sum("[The Start of Reference Answer]" in json.dumps(r) for r in dated) == 2
    assert main(_judge_argv(a, out, mtbench_data, fake_judge.url)) == 0  # all cached
    assert len(fake_judge.requests) == 18
    assert json.loads((out / "mt-bench.json").read_text())["model"]["name"] == "my-model"


@pytest.mark.slow  # four gen_judgment runs
def test_judge_faults_and_a_kill_lose_nothing(tmp_path, mtbench_data):
    """500, a hang past the timeout, a 200 without `choices`, an unparsable rating, then a
    kill mid-run: every finished judgment is kept, each rerun makes exactly the missing
    calls, and the API key is sent to no loopback judge and written to no file."""
    from spin.cli import main

    secret = "sk-test-do-not-leak-0123456789"
    os.environ["SPIN_TEST_JUDGE_KEY"] = secret
    out, answers = tmp_path / "out", _answers(tmp_path / "a.jsonl")
    # pairs in fschat's order with --parallel 1: (81,1) (111,1) (121,1) (81,2) (111,2) (121,2)
    judge = FakeJudge(script=["500", "hang", "no-choices", "unparsable", "ok", "ok"])
    opts = [
        "--judge-api-key-env",
        "SPIN_TEST_JUDGE_KEY",
        "--judge-parallel",
        "1",
        "--judge-timeout",
        "1",
        "--judge-max-retry",
        "1",
        "--judge-backoff",
        "0",
    ]
    try:
        argv = _judge_argv(answers, out, mtbench_data, judge.url, *opts, "--judge-attempts", "1")
        assert main(argv) == 2  # three pairs still missing after the one attempt
        assert len(judge.requests) == 6
        (judgments,) = out.glob("mt-bench.judgments.*.jsonl")
        kept = [json.loads(line) for line in judgments.read_text().splitlines()]
        assert sorted((j["question_id"], j["turn"]) for j in kept) == [(81, 2), (111, 2), (121, 2)]

        # a kill while the second pair of the rerun is with the judge
        judge.script = ["ok", "block"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "spin.cli", *argv],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert judge.blocked.wait(300), "the judge never got the blocking request"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        judge.release.set()
        assert len(judge.requests) == 8
        (fschat_out,) = out.glob("*.fschat/data/mt_bench/model_judgment/gpt-4_single.jsonl")
        assert '"question_id": 81' in fschat_out.read_text()  # the kill's finished judgment

        # the rerun judges exactly the two pairs left: (111,1) and (121,1)
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "spin.cli",
                *_judge_argv(answers, out, mtbench_data, judge.url, *opts),
            ],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert len(judge.requests) == 10
        assert (
            "1 of 6 ratings could not be parsed" in res.stderr
            and "--retry-unparsable" in res.stderr
        )
        assert json.loads((out / "mt-bench.json").read_text())["tasks"]["mt_bench"]["n"] == 5

        argv = _judge_argv(answers, out, mtbench_data, judge.url, *opts, "--retry-unparsable")
        assert main(argv) == 0
        assert len(judge.requests) == 11  # only the unparsable (81, 2)
        assert "second answer 81" in judge.requests[-1]["messages"][-1]["content"]
        res = json.loads((out / "mt-bench.json").read_text())
        assert res["tasks"]["mt_bench"]["n"] == 6 and res["tasks"]["turn2"]["value"] == 4
    finally:
        judge.close()
        del os.environ["SPIN_TEST_JUDGE_KEY"]
    assert {r["authorization"] for r in judge.requests} == {"Bearer EMPTY"}
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaked
