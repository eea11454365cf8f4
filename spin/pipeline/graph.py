"""From an experiment to its stages: prepare -> [sft] -> per arm, per iteration:
generate(θt) -> pairs/triplets -> train(θt -> θt+1) -> dynamics; eval of every checkpoint.

Iterations are derived here from the experiment's list, so one YAML holds a whole paper
experiment. Identical work is one stage: θ0's generations serve as SPIN iteration 0's y′
and as T-SPIN's y0 for every arm, and a sweep's arms share their common first iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from spin import method as methods
from spin.config import Experiment, SFTConfig
from spin.pipeline.stage import Stage
from spin.pipeline.stages import (
    SFT,
    BaseModel,
    Dynamics,
    Eval,
    Generate,
    ModelStage,
    Pairs,
    Prepare,
    Records,
    Train,
)


@dataclass
class Graph:
    stages: list[Stage] = field(default_factory=list)
    evals: list[tuple[Eval, dict]] = field(default_factory=list)
    """(eval stage, the results' model block)."""
    dynamics: list[Dynamics] = field(default_factory=list)
    checkpoints: list[tuple[ModelStage, dict]] = field(default_factory=list)
    """(model-producing stage, model block): θ0 and every iteration's output."""


def build_graph(exp: Experiment) -> Graph:
    g = Graph()
    seed, dtype = exp.seed, exp.model.dtype
    max_iters = max((len(a.iterations) for a in exp.arms.values()), default=0)
    need_sft = exp.sft.enabled or exp.model.from_sft
    prep = Prepare("prepare", data=exp.data, seed=seed, need_sft=need_sft, iterations=max_iters)
    tiny = exp.model.name_or_path == "tiny"
    base_cfg = exp.model
    if exp.model.from_sft and not tiny:  # SFT first, from the pretrained model
        base_cfg = replace(
            exp.model, name_or_path=exp.model.sft_base, revision=exp.model.sft_base_revision
        )
    base = BaseModel(
        "base_model", model=base_cfg, seed=seed if tiny else None, data=prep if tiny else None
    )
    g.stages += [prep, base]
    theta0: ModelStage = base
    theta0_name = exp.model.display_name
    if need_sft:
        sft0 = _sft_stage("sft", exp.sft, base, prep, prep.sft_data(), exp)
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

    def gen(model: ModelStage, records: Records, name: str) -> Generate:
        return Generate(
            name, config=exp.generation, records=records, dtype=dtype, model=model, data=prep
        )

    released = exp.data.source == "spin_iter"
    heldout_proto = (
        gen(theta0, prep.heldout(), "theta0/generate-heldout")
        if exp.dynamics.enabled and not released
        else None
    )

    for arm_name, arm in exp.arms.items():
        m = methods.get(arm.method, arm=True)
        label = arm.label or m.label
        prompts = prep.subset(arm.data_subset) if arm.data_subset else prep.prompts()
        model, previous = theta0, None
        proto = None if released else gen(theta0, prompts, f"{arm_name}/generate-theta0")
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
                model = _sft_stage(f"{arm_name}/iter{t}/sft", cfg, model, prep, prompts, exp)
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
            generations = prep if released else gen(model, prompts, f"{arm_name}/iter{t}/generate")
            mix = cfg.mix_previous and m.mixes_previous
            pairs = Pairs(
                f"{arm_name}/iter{t}/{m.data}",
                form=m.data,
                iteration=t,
                mix_previous=mix,
                released=released,
                prompts=prompts,
                generations=generations,
                proto=proto if m.data == "triplets" else None,
                previous=previous if mix else None,
            )
            trained = Train(
                f"{arm_name}/iter{t}/train",
                config=cfg,
                trainer=m.trainer,
                dtype=dtype,
                model=model,
                pairs=pairs,
            )
            if not released:
                g.stages.append(generations)
            g.stages += [pairs, trained]
            if exp.dynamics.enabled and not released:
                heldout = gen(model, prep.heldout(), f"{arm_name}/iter{t}/generate-heldout")
                dyn = Dynamics(
                    f"{arm_name}/iter{t}/dynamics",
                    trainer=m.trainer,
                    arm=arm_name,
                    iteration=t,
                    config=cfg,
                    dtype=dtype,
                    limits=exp.dynamics,
                    micro=exp.micro,
                    policy=trained,
                    reference=model,
                    pairs=pairs,
                    heldout=heldout,
                    heldout_proto=heldout_proto,
                    proto=proto,
                )
                g.stages += [heldout, dyn]
                g.dynamics.append(dyn)
            _checkpoint(g, exp, trained, info, prep)
            model, previous = trained, pairs
    return g


def _sft_stage(
    name: str, cfg: SFTConfig, model: ModelStage, prep: Prepare, records: Records, exp: Experiment
) -> SFT:
    return SFT(
        name,
        config=cfg,
        records=records,
        prompt_format=exp.training.prompt_format,
        dtype=exp.model.dtype,
        model=model,
        data=prep,
    )


def _checkpoint(g: Graph, exp: Experiment, model: ModelStage, info: dict, prep: Prepare) -> None:
    g.checkpoints.append((model, info))
    last_of_arm = True  # evaluated at every checkpoint unless eval.checkpoints == "final"
    if exp.eval.checkpoints == "final" and info.get("iteration") is not None:
        arm = exp.arms[info["arm"]]
        last_of_arm = info["iteration"] == len(arm.iterations) - 1
    if not last_of_arm:
        return
    for suite in exp.eval.suites:
        stage = Eval(
            f"{info['name']}/eval-{suite}",
            suite=suite,
            config=exp.eval,
            model=model,
            data=prep if suite == "tiny" else None,
            fastchat_model_id=exp.model.name_or_path if suite == "mt-bench" else "",
        )
        g.stages.append(stage)
        g.evals.append((stage, info))
