"""MT-Bench end to end: fschat's real gen_judgment (in .venv-judge) against a loopback
OpenAI-compatible server that stands in for GPT-4 only, answering "Rating: [[k]]".

Skips when the judge venv or the FastChat data copy is absent (the lead's .ci/run makes the
venv; the data is read from ../shared/data/mt_bench and never committed).
"""

from __future__ import annotations

import json
import shutil
import threading
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
    fail its first `fail_first` requests with HTTP 500 (a transient outage)."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append({"path": self.path, **body})
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self.send_error(404)
                    return
                if len(judge.requests) <= judge.fail_first:
                    self.send_error(500, "transient")
                    return
                text = "\n".join(m["content"] for m in body["messages"])
                rating = 4 if "Conversation with User" in text else 7
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": f"Fine. Rating: [[{rating}]]"}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
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


def _answers(path: Path) -> Path:
    rows = [{"question_id": q, "answer_id": f"a{q}", "model_id": "my-model", "tstamp": 0.0,
             "choices": [{"index": 0, "turns": [f"first answer {q}", f"second answer {q}"]}]} for q in QIDS]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judge_answers_file_through_fschat_and_resume(tmp_path, mtbench_data, fake_judge):
    from spin.cli import main

    answers, out = _answers(tmp_path / "answers.jsonl"), tmp_path / "out"
    argv = ["eval", "mt-bench", "--answers", str(answers), "--mtbench-data", str(mtbench_data),
            "--judge-model", "gpt-4", "--judge-base-url", fake_judge.url, "--output-dir", str(out)]  # fmt: skip
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
        path = evaluate_mtbench(None, tmp_path, model_info={"name": "m", "method": "x", "base_model": "b"},
                                judge=cfg, mtbench_data=mtbench_data, answers_file=_answers(tmp_path / "a.jsonl"))  # fmt: skip
    finally:
        judge.close()
    res = json.loads(path.read_text())
    assert res["tasks"]["mt_bench"]["n"] == 6  # the two failed calls were judged again
    # With --parallel 1 fschat judges all first turns first, so the failures hit questions 81
    # and 121 (turn 1); a retry re-judges whole questions: 6 + 2 failed + 2 x 2 = 10 calls.
    assert len(judge.requests) == 10
    lines = (tmp_path / "mt-bench.judgments.gpt-4.jsonl").read_text().splitlines()
    assert len(lines) == 6 and "$ERROR$" not in "".join(lines)


def test_generate_answers_and_judge(tmp_path, mtbench_data, tiny_model_dir, fake_judge):
    from spin.eval import evaluate

    cfg = JudgeConfig(base_url=fake_judge.url)
    path = evaluate("mt-bench", str(tiny_model_dir), tmp_path, model_info={"name": "tiny sft", "method": "sft",
                    "iteration": None, "base_model": "tiny"}, judge=cfg, mtbench_data=mtbench_data,
                    limit=2, max_new_tokens=8)  # fmt: skip
    answers = [
        json.loads(line) for line in (tmp_path / "mt-bench.answers.jsonl").read_text().splitlines()
    ]
    assert [a["question_id"] for a in answers] == [81, 82]
    assert all(a["model_id"] == "tiny-sft" and len(a["choices"][0]["turns"]) == 2 for a in answers)
    res = json.loads(path.read_text())
    assert res["tasks"]["mt_bench"]["n"] == 4 and res["model"]["path"] == str(tiny_model_dir)
    # The judge saw our answers inside fschat's single-answer prompt.
    assert any(
        answers[0]["choices"][0]["turns"][0] in r["messages"][-1]["content"]
        for r in fake_judge.requests
    )
