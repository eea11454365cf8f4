"""MT-Bench data download: the real urllib path against a local HTTP server standing in for
raw.githubusercontent.com (unreachable here), with the pinned sha256 checks."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from spin.errors import SpinError
from spin.eval import mtbench

FILES = {
    "judge_prompts.jsonl": b'{"name": "single-v1"}\n',
    "mt_bench/question.jsonl": b'{"question_id": 81, "category": "writing", "turns": ["a", "b"]}\n',
    "mt_bench/reference_answer/gpt-4.jsonl": b'{"question_id": 111}\n',
}


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves tmp_path/www over HTTP on 127.0.0.1; records each requested path."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a CI proxy must not see loopback
    www = tmp_path / "www" / "abc1234"
    for rel, body in FILES.items():
        (www / rel).parent.mkdir(parents=True, exist_ok=True)
        (www / rel).write_bytes(body)
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            pass

        def do_GET(self):
            seen.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path / "www"))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, seen
    httpd.shutdown()


def _manifest(monkeypatch, base: str, shas: dict[str, str]) -> None:
    man = {
        **mtbench.manifest(),
        "commit": "abc1234",
        "files": shas,
        "url_template": base + "/{commit}/{path}",
    }
    monkeypatch.setattr(mtbench, "manifest", lambda: man)


def test_download_checks_sha256_caches_and_does_not_refetch(tmp_path, monkeypatch, server):
    base, _, seen = server
    monkeypatch.setenv("SPIN_CACHE_DIR", str(tmp_path / "cache"))
    _manifest(monkeypatch, base, {r: hashlib.sha256(b).hexdigest() for r, b in FILES.items()})
    folder = mtbench.ensure_data(None)
    assert folder == tmp_path / "cache" / "mt_bench" / "abc1234"
    assert {r: (folder / r).read_bytes() for r in FILES} == FILES
    assert sorted(seen) == sorted(f"/abc1234/{r}" for r in FILES)
    mtbench.ensure_data(None)  # cached and checked: no second request
    assert len(seen) == len(FILES)
    assert mtbench.load_questions(folder)[0]["question_id"] == 81


def test_a_tampered_file_is_refused_and_not_cached(tmp_path, monkeypatch, server):
    base, www, _ = server
    monkeypatch.setenv("SPIN_CACHE_DIR", str(tmp_path / "cache"))
    _manifest(monkeypatch, base, {r: hashlib.sha256(b).hexdigest() for r, b in FILES.items()})
    (www / "mt_bench" / "question.jsonl").write_bytes(b'{"question_id": 666}\n')
    with pytest.raises(SpinError, match="question.jsonl: sha256 does not match"):
        mtbench.ensure_data(None)
    cache = tmp_path / "cache" / "mt_bench" / "abc1234"
    assert not (cache / "mt_bench" / "question.jsonl").exists()
    assert not [
        p
        for p in cache.rglob("*")
        if p.is_file() and p.name not in ("judge_prompts.jsonl", "gpt-4.jsonl")
    ]


def test_unreachable_source_names_the_offline_option(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIN_CACHE_DIR", str(tmp_path / "cache"))
    _manifest(monkeypatch, "http://127.0.0.1:9", {"judge_prompts.jsonl": "0" * 64})
    with pytest.raises(SpinError, match="--mtbench-data"):
        mtbench.ensure_data(None)
    assert Path(tmp_path / "cache").exists() is False or not any(
        (tmp_path / "cache").rglob("*.jsonl")
    )
