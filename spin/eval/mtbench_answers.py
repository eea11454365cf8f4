"""MT-Bench answers: two turns per question from our generation backends, in fschat's answer
format, as gen_model_answer makes them (spin.eval.fastchat_prompts) or with the model's own
chat template; cached in the output folder under a key of everything that determines them."""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

from spin.errors import SpinError
from spin.eval.fastchat_prompts import FSCHAT_VERSION, PROMPT_SOURCES, FastChatTemplates
from spin.eval.mtbench_settings import manifest, model_id_for, temperature
from spin.eval.suites import MT_BENCH
from spin.io import read_jsonl, sha256_json, write_jsonl


def model_answers(
    model_path: str,
    questions: list[dict],
    output_dir: Path,
    *,
    model_info: dict,
    backend: str,
    seed: int,
    max_new_tokens: int | None,
    batch_size: int | None,
    dtype: str | None,
    prompt: str,
    fastchat_model_id: str | None,
    judge_python: str | Path,
) -> tuple[str, dict, Path, list[dict]]:
    """The model's answers (generated, or reused from output_dir): returns the fschat model
    id, the generation settings (recorded in provenance), the answers file and the answers."""
    if prompt not in PROMPT_SOURCES:
        raise SpinError(
            f"--mt-bench-prompt '{prompt}': expected one of {', '.join(PROMPT_SOURCES)}"
        )
    model_id = model_id_for(model_info["name"])
    gen = {
        "backend": backend,
        "max_new_tokens": max_new_tokens or manifest()["max_new_tokens"],
        "temperatures": manifest()["temperatures"],
        "top_k": manifest()["top_k"],
        "prompt": prompt,
    }
    with contextlib.ExitStack() as stack:
        templates = None
        if prompt == "fastchat":
            templates = stack.enter_context(FastChatTemplates(judge_python))
            template_id = fastchat_model_id or model_id
            name = templates.render(template_id, []).template
            gen.update(
                fastchat=FSCHAT_VERSION, fastchat_model_id=template_id, fastchat_template=name
            )
            if name == "one_shot":
                print(
                    f"spin eval mt-bench: warning: FastChat knows no template for model id "
                    f"'{template_id}' and uses its fallback 'one_shot', as gen_model_answer "
                    "would; for a Zephyr model pass --fastchat-model-id with the model's "
                    "name (e.g. zephyr-7b-sft-full), or --mt-bench-prompt hf-chat-template",
                    file=sys.stderr,
                )
        # keyed by everything that determines the answers: another model, setting or question
        # set into the same folder generates its own file instead of reusing this one's
        key = sha256_json(
            {
                "model": _fingerprint(str(model_path)),
                "model_id": model_id,
                "seed": seed,
                "dtype": dtype,
                "batch_size": batch_size,
                "generation": gen,
                "questions": [q["question_id"] for q in questions],
            }
        )[:12]
        answers_path = Path(output_dir) / f"{MT_BENCH}.answers.{model_id}.{key}.jsonl"
        if answers_path.exists():  # a rerun after a judge failure reuses the answers
            return model_id, gen, answers_path, read_jsonl(answers_path)
        answers = generate_answers(
            model_path,
            questions,
            model_id,
            backend=backend,
            seed=seed,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            dtype=dtype,
            prompt=prompt,
            templates=templates,
            fastchat_model_id=gen.get("fastchat_model_id"),
        )
    write_jsonl(answers_path, answers)
    return model_id, gen, answers_path, answers


def generate_answers(
    model_path: str,
    questions: list[dict],
    model_id: str,
    *,
    backend: str = "hf",
    seed: int = 0,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    prompt: str = "hf-chat-template",
    templates: FastChatTemplates | None = None,
    fastchat_model_id: str | None = None,
) -> list[dict]:
    """Two turns per question, in fschat's answer format.

    prompt: "fastchat" renders with `templates` (an open FastChatTemplates) for
    `fastchat_model_id` (default: model_id), as gen_model_answer does; "hf-chat-template"
    with the tokenizer's chat template (one BOS)."""
    from transformers import AutoTokenizer

    from spin.config import GenerationConfig
    from spin.generate import load_backend

    if prompt not in PROMPT_SOURCES:
        raise SpinError(f"MT-Bench prompt '{prompt}': expected one of {', '.join(PROMPT_SOURCES)}")
    if prompt == "fastchat" and templates is None:
        raise ValueError("prompt='fastchat' needs an open FastChatTemplates")
    tok = AutoTokenizer.from_pretrained(model_path)
    if prompt == "hf-chat-template" and not tok.chat_template:
        raise SpinError(
            f"{model_path}: the tokenizer has no chat template "
            "(--mt-bench-prompt hf-chat-template renders conversations with it)"
        )
    cuda = _cuda()
    cfg = GenerationConfig(
        backend="vllm" if backend == "vllm" else "transformers",
        prompt_format="chat",
        max_new_tokens=max_new_tokens or int(manifest()["max_new_tokens"]),
        temperature=0.0,
        top_k=int(manifest()["top_k"]),
        batch_size=batch_size or 8,
        gpu_memory_utilization=0.9 if cuda else 0.2,
        layout="clean",  # the chat template's own BOS; answers decoded without special tokens
    )
    engine = load_backend(
        model_path, cfg, dtype=dtype or ("bfloat16" if cuda else "float32"), seed=seed
    )
    turns: dict[int, list[str]] = {q["question_id"]: [] for q in questions}
    for temp in sorted({temperature(q["category"]) for q in questions}):
        group = [q for q in questions if temperature(q["category"]) == temp]
        engine.cfg = replace(cfg, temperature=temp)  # both backends read cfg at generate time
        for t in range(2):
            convs = []  # [user1, assistant1, user2, ...] up to this turn's question
            for q in group:
                conv = []
                for k in range(t + 1):
                    conv.append(q["turns"][k])
                    if k < t:
                        conv.append(turns[q["question_id"]][k])
                convs.append(conv)
            if prompt == "fastchat":
                rendered = templates.render(fastchat_model_id or model_id, convs)
                texts, clean = rendered.prompts, rendered.clean
            else:
                texts, clean = [_hf_prompt(tok, c) for c in convs], str.strip
            outs = engine.generate(texts, [seed + 1000 * t + q["question_id"] for q in group])
            for q, o in zip(group, outs, strict=True):
                turns[q["question_id"]].append(clean(o))
    now = time.time()
    return [
        {
            "question_id": q["question_id"],
            "model_id": model_id,
            "answer_id": hashlib.sha256(
                f"{model_id}:{q['question_id']}:{seed}".encode()
            ).hexdigest()[:22],
            "choices": [{"index": 0, "turns": turns[q["question_id"]]}],
            "tstamp": now,
        }
        for q in questions
    ]


def _hf_prompt(tok, conversation: list[str]) -> str:
    """The model's own chat template for [user1, assistant1, user2, ...], one BOS."""
    roles = ("user", "assistant")
    messages = [{"role": roles[k % 2], "content": c} for k, c in enumerate(conversation)]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return single_bos(text, tok)


def _fingerprint(model_path: str) -> dict:
    """What identifies a checkpoint cheaply: its resolved path and its files' sizes and
    modification times (a model retrained in place gets new answers)."""
    path = Path(model_path)
    if not path.is_dir():
        return {"path": model_path}
    files = sorted(p for p in path.resolve().iterdir() if p.is_file())
    return {
        "path": str(path.resolve()),
        "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
    }


def single_bos(text: str, tok) -> str:
    """The prompt text without its leading BOS when the tokenizer adds one anyway.

    Both backends tokenise the rendered text with special tokens (as gen_model_answer does
    with its own prompt, which holds no BOS), so a template that writes `bos_token` (Mistral's)
    would give two. Strip the text's only when tokenising it really gives BOS twice."""
    bos = tok.bos_token
    if not bos or not text.startswith(bos):
        return text
    ids = tok(text).input_ids
    if len(ids) > 1 and ids[0] == ids[1] == tok.bos_token_id:
        return text[len(bos) :]
    return text


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False
