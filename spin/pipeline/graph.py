"""From an experiment to its stages: prepare -> [sft] -> per arm, per iteration:
generate(θt) -> pairs/triplets -> train(θt -> θt+1) -> dynamics; eval of every checkpoint.

Iterations are derived here from the experiment's list, so one YAML holds a whole paper
experiment. Identical work is one stage: θ0's generations serve as SPIN iteration 0's y′
and as T-SPIN's y0 for every arm, and a sweep's arms share their common first iterations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from spin import method as methods
from spin.config import Experiment, SFTConfig
from spin.pipeline import steps
from spin.pipeline.stage import Stage


@dataclass
class Graph:
    stages: list[Stage] = field(default_factory=list)
    evals: list[tuple[Stage, dict]] = field(default_factory=list)
    """(eval stage, the results' model block)."""
    dynamics: list[Stage] = field(default_factory=list)
    checkpoints: list[tuple[Stage, dict]] = field(default_factory=list)
    """(model-producing stage, model block): θ0 and every iteration's output."""


def build_graph(exp: Experiment) -> Graph:
    g = Graph()
    seed, dtype = exp.seed, exp.model.dtype
    max_iters = max((len(a.iterations) for a in exp.arms.values()), default=0)
    need_sft = exp.sft.enabled or exp.model.from_sft
    prep = Stage(
        "prepare",
        "prepare",
        {"data": asdict(exp.data), "seed": seed, "need_sft": need_sft, "iterations": max_iters},
        steps.prepare,
    )
    tiny = exp.model.name_or_path == "tiny"
    base_cfg = exp.model
    if exp.model.from_sft and not tiny:  # SFT first, from the pretrained model
        base_cfg = replace(
            exp.model, name_or_path=exp.model.sft_base, revision=exp.model.sft_base_revision
        )
    base = Stage(
        "base_model",
        "base_model",
        {"model": asdict(base_cfg), "seed": seed if tiny else None},
        steps.base_model,
        deps={"data": prep} if tiny else {},
    )
    g.stages += [prep, base]
    theta0, theta0_name = base, exp.model.display_name
    if need_sft:
        sft0 = _sft_stage("sft", exp.sft, base, prep, "sft.jsonl", exp, estimate_file="sft.jsonl")
        g.stages.append(sft0)
        # whenever an SFT stage runs, its output is θ0 (the tiny preset's weak SFT model, a
        # rebuilt zephyr-7b-sft-full, or with from_sft the start of the self-play chain)
        theta0, theta0_name = sft0, "SFT" if tiny else f"{exp.model.display_name} (our SFT)"
    # a micro run's results say so in their model block (reports refuse to mix them)
    mark = {"micro": True} if exp.micro else {}
    info0 = {
        "name": theta0_name,
        "method": "sft",
        "iteration": None,
        "base_model": exp.model.display_name,
        "seed": seed,
        **mark,
    }
    _checkpoint(g, exp, theta0, info0, prep)

    def gen(model: Stage, file: str, name: str) -> Stage:
        return Stage(
            "generate",
            name,
            {"generation": asdict(exp.generation), "file": file, "dtype": dtype},
            steps.generate,
            deps={"model": model, "data": prep},
            estimate={
                "file": file,
                "examples": _count(exp, file),
                "max_new_tokens": exp.generation.max_new_tokens,
            },
        )

    released = exp.data.source == "spin_iter"
    heldout_proto = (
        gen(theta0, "heldout.jsonl", "theta0/generate-heldout")
        if exp.dynamics.enabled and not released
        else None
    )

    for arm_name, arm in exp.arms.items():
        m = methods.get(arm.method, arm=True)
        label = arm.label or m.label
        file = f"subsets/{arm.data_subset}.jsonl" if arm.data_subset else "prompts.jsonl"
        model, previous = theta0, None
        proto = None if released else gen(theta0, file, f"{arm_name}/generate-theta0")
        for t in range(len(arm.iterations)):
            info = {
                "name": f"{label} iter{t}",
                "method": arm.method,
                "iteration": t,
                "base_model": exp.model.display_name,
                "seed": seed,
                "arm": arm_name,
                **mark,
            }
            if arm.data_subset:
                info["train_examples"] = arm.data_subset
            if not m.self_play:  # continued SFT: more epochs of SFT on the SPIN prompts
                cfg = exp.iteration_sft(arm_name, t)
                model = _sft_stage(
                    f"{arm_name}/iter{t}/sft", cfg, model, prep, file, exp, estimate_file=file
                )
                info["name"] = (
                    f"{theta0_name} + {t + 1} more SFT epoch{'s' if t else ''}"
                    if not arm.label
                    else f"{arm.label} iter{t}"
                )
                g.stages.append(model)
                _checkpoint(g, exp, model, info, prep)
                continue
            cfg = exp.iteration_training(arm_name, t)
            if m.beta_at(t, cfg.beta) != cfg.beta:
                # At iteration 0, y′ and y0 both come from θ0, so the historical term has no
                # gradient; T-SPIN sets β = 0 there. The ablation keeps β = 0 throughout.
                cfg = replace(cfg, beta=m.beta_at(t, cfg.beta))
            kind = m.data
            if released:
                generations = prep
                pdeps: dict[str, Stage] = {"generations": prep}
            else:
                generations = gen(model, file, f"{arm_name}/iter{t}/generate")
                pdeps = {"generations": generations}
            if kind == "triplets":
                pdeps["proto"] = proto
            mix = cfg.mix_previous and m.mixes_previous
            if previous is not None and mix:
                pdeps["previous"] = previous
            pair_params = {"kind": kind, "iteration": t, "mix_previous": mix}
            if released:
                pair_params["released"] = f"pairs_iter{t}.jsonl"
            pairs = Stage(
                "pairs", f"{arm_name}/iter{t}/{kind}", pair_params, steps.pairs, deps=pdeps
            )
            trained = Stage(
                "train",
                f"{arm_name}/iter{t}/train",
                {"method": m.trainer, "training": asdict(cfg), "dtype": dtype},
                steps.train,
                deps={"model": model, "pairs": pairs},
                estimate={
                    "examples": _count(exp, file) * (2 if mix and t > 0 else 1),
                    "epochs": cfg.num_train_epochs,
                    "sequences": 2 if kind == "pairs" else 3,
                    "gradient_checkpointing": cfg.gradient_checkpointing,
                    "reference_forward": m.needs_reference,
                },
            )
            if not released:
                g.stages.append(generations)
            g.stages += [pairs, trained]
            if exp.dynamics.enabled and not released:
                heldout = gen(model, "heldout.jsonl", f"{arm_name}/iter{t}/generate-heldout")
                ddeps = {
                    "policy": trained,
                    "reference": model,
                    "pairs": pairs,
                    "heldout": heldout,
                    "heldout_proto": heldout_proto,
                    "proto": proto,
                }
                dyn = Stage(
                    "dynamics",
                    f"{arm_name}/iter{t}/dynamics",
                    {
                        "method": m.trainer,
                        "arm": arm_name,
                        "iteration": t,
                        "alpha": cfg.alpha,
                        "beta": cfg.beta,
                        "prompt_format": cfg.prompt_format,
                        "max_prompt_length": cfg.max_prompt_length,
                        "reduction": cfg.logp_reduction,
                        "max_length": cfg.max_length,
                        "layout": cfg.layout,
                        "dtype": dtype,
                        "max_train": exp.dynamics.max_train,
                        "max_heldout": exp.dynamics.max_heldout,
                        **mark,
                    },
                    steps.dynamics,
                    deps=ddeps,
                )
                g.stages += [heldout, dyn]
                g.dynamics.append(dyn)
            _checkpoint(g, exp, trained, info, prep)
            model, previous = trained, pairs
    return g


def _count(exp: Experiment, file: str) -> int:
    """Records in a prepared file, known from the config before anything runs."""
    if file.startswith("subsets/"):
        return int(file.split("/")[1].split(".")[0])
    # num_sft = 0 means the whole split: UltraChat200k's train_sft has 207,865 conversations
    return {
        "prompts.jsonl": exp.data.num_prompts,
        "heldout.jsonl": exp.data.num_eval,
        "sft.jsonl": exp.data.num_sft or 207_865,
    }[file]


def _sft_stage(
    name: str,
    cfg: SFTConfig,
    model: Stage,
    prep: Stage,
    file: str,
    exp: Experiment,
    estimate_file: str,
) -> Stage:
    return Stage(
        "sft",
        name,
        {
            "sft": asdict(cfg),
            "file": file,
            "prompt_format": exp.training.prompt_format,
            "dtype": exp.model.dtype,
        },
        steps.sft,
        deps={"model": model, "data": prep},
        estimate={
            "examples": _count(exp, estimate_file),
            "epochs": cfg.num_train_epochs,
            "sequences": 1,
            "gradient_checkpointing": cfg.gradient_checkpointing,
        },
    )


def _checkpoint(g: Graph, exp: Experiment, model: Stage, info: dict, prep: Stage) -> None:
    g.checkpoints.append((model, info))
    last_of_arm = True  # evaluated at every checkpoint unless eval.checkpoints == "final"
    if exp.eval.checkpoints == "final" and info.get("iteration") is not None:
        arm = exp.arms[info["arm"]]
        last_of_arm = info["iteration"] == len(arm.iterations) - 1
    if not last_of_arm:
        return
    for suite in exp.eval.suites:
        params = {
            "suite": suite,
            "backend": exp.eval.backend,
            "batch_size": exp.eval.batch_size,
            "limit": exp.eval.limit,
        }
        if exp.eval.data_dir and suite != "tiny":  # only when set: the Hub's keys stay as they were
            params["data_dir"] = str(Path(exp.eval.data_dir).resolve())
        deps = {"model": model, "data": prep} if suite == "tiny" else {"model": model}
        stage = Stage(
            "eval",
            f"{info['name']}/eval-{suite}",
            params,
            steps.evaluate,
            deps=deps,
            estimate={"suite": suite},
        )
        g.stages.append(stage)
        g.evals.append((stage, info))
