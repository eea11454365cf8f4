"""Small local copies of the evaluation datasets, in each real dataset's format.

Each builder writes a few rows with the Hub rows' fields, laid out as `spin eval download`
writes them (DIR/<local>/<split>.jsonl, DIR/bbh/<task>.json), so lm-eval's own task
definitions (prompts, few-shot sampling, filters, metrics) run unchanged on them through
`--data-dir` (or `eval.data_dir`). `spin run --micro` evaluates on them, and the eval tests
run every suite on them. `real_bbh`, when given, is a folder of real BIG-Bench-Hard task
files to copy for SPIN's three tasks (the tests pass ../shared/data/bbh).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from spin.eval.suites import load_suite
from spin.io import write_jsonl  # makes the parent folders (atomic_path)

SPIN_BBH = ("causal_judgement", "formal_fallacies", "sports_understanding")
"""SPIN's three BBH tasks (spin-bbh); with real_bbh, their real files are copied."""


def build_all(root: Path) -> Path:
    """Copies for every lm-eval suite a paper recipe names (openllm-v1, spin-bbh, tspin-10)
    in one folder: the suites share their tasks' folders, as `spin eval download` fills it."""
    build_tspin10_copy(root)
    build_bbh_copy(root)  # after tspin-10: SPIN's three BBH tasks, targets among their choices
    return root


def _arc(i: int) -> dict:
    return {
        "id": f"q{i}",
        "question": f"Which thing number {i} is heavy?",
        "choices": {
            "text": ["a rock", "a leaf", "a feather", "air"],
            "label": ["A", "B", "C", "D"],
        },
        "answerKey": "A",
    }


def build_openllm_copy(root: Path) -> None:
    """ARC-, HellaSwag-, TruthfulQA-, MMLU-, WinoGrande- and GSM8K-shaped rows."""
    write_jsonl(root / "arc_challenge" / "train.jsonl", [_arc(i) for i in range(27)])
    write_jsonl(root / "arc_challenge" / "test.jsonl", [_arc(100 + i) for i in range(3)])
    hs = [
        {
            "ind": i,
            "activity_label": "Cooking",
            "ctx_a": "A man cracks an egg.",
            "ctx_b": "he",
            "ctx": "A man cracks an egg. he",
            "endings": ["fries it.", "eats the pan.", "sings.", "flies."],
            "source_id": "x",
            "split": "train",
            "split_type": "indomain",
            "label": "0",
        }
        for i in range(15)
    ]
    # lm-eval draws shots + 1 training rows (it drops the test document if drawn).
    write_jsonl(root / "hellaswag" / "train.jsonl", hs[:12])
    write_jsonl(root / "hellaswag" / "validation.jsonl", hs[12:])
    tq = [
        {
            "question": f"Is the earth flat ({i})?",
            "mc1_targets": {"choices": ["No", "Yes"], "labels": [1, 0]},
            "mc2_targets": {"choices": ["No", "It is round", "Yes"], "labels": [1, 1, 0]},
        }
        for i in range(3)
    ]
    write_jsonl(root / "truthfulqa_mc" / "validation.jsonl", tq)
    subjects = [s[len("mmlu_") :] for s in load_suite("openllm-v1").tasks["mmlu"].subtasks]
    for s in subjects:
        rows = [
            {
                "question": f"A {s} question {i}?",
                "subject": s,
                "choices": ["w", "x", "y", "z"],
                "answer": i % 4,
            }
            for i in range(7)
        ]
        write_jsonl(root / "mmlu" / s / "dev.jsonl", rows[:5])
        write_jsonl(root / "mmlu" / s / "test.jsonl", rows[5:])
    wg = [
        {
            "sentence": f"The cup did not fit in the box because _ was too big ({i}).",
            "option1": "the cup",
            "option2": "the box",
            "answer": "1",
        }
        for i in range(9)
    ]
    write_jsonl(root / "winogrande" / "train.jsonl", wg[:7])
    write_jsonl(root / "winogrande" / "validation.jsonl", wg[7:])
    gsm = [
        {
            "question": f"Tom has {i} apples and buys 2. How many now?",
            "answer": f"He has {i} + 2 = {i + 2} apples.\n#### {i + 2}",
        }
        for i in range(9)
    ]
    write_jsonl(root / "gsm8k" / "train.jsonl", gsm[:7])
    write_jsonl(root / "gsm8k" / "test.jsonl", gsm[7:])


def _bbh_file(root: Path, task: str, targets: list[str], real_bbh: Path | None) -> None:
    """One BIG-Bench-Hard task file: the real one when real_bbh has it, else rows with these
    targets."""
    path = root / "bbh" / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if real_bbh is not None and task in SPIN_BBH:
        shutil.copyfile(real_bbh / f"{task}.json", path)
        return
    rows = [{"input": f"Question {i} about {task}?", "target": t} for i, t in enumerate(targets)]
    path.write_text(json.dumps({"canary": "x", "examples": rows}))


def build_bbh_copy(root: Path, real_bbh: Path | None = None) -> None:
    """SPIN's three BBH tasks in BIG-Bench-Hard's own format, and OpenBookQA."""
    for task, target in zip(SPIN_BBH, ("No", "invalid", "no"), strict=True):
        _bbh_file(root, task, [target] * 3, real_bbh)
    ob = [
        {
            "id": f"o{i}",
            "question_stem": f"The sun is a ({i})",
            "choices": {"text": ["star", "planet", "moon", "rock"], "label": ["A", "B", "C", "D"]},
            "answerKey": "A",
        }
        for i in range(6)
    ]
    write_jsonl(root / "openbookqa" / "train.jsonl", ob[:3])
    write_jsonl(root / "openbookqa" / "test.jsonl", ob[3:])


MATH_SUBJECTS = {  # lm-eval subtask suffix -> MATH-lighteval config (its `type` is the title)
    "algebra": "algebra",
    "counting_and_prob": "counting_and_probability",
    "geometry": "geometry",
    "intermediate_algebra": "intermediate_algebra",
    "num_theory": "number_theory",
    "prealgebra": "prealgebra",
    "precalculus": "precalculus",
}
MUSR_SPLITS = ("murder_mysteries", "object_placements", "team_allocation")
GPQA_SUBSETS = ("gpqa_diamond", "gpqa_extended", "gpqa_main")
# Every key of the Hub IFEval rows' kwargs: datasets writes the union, unused ones null.
IFEVAL_KWARGS = (
    "num_highlights",
    "relation",
    "num_words",
    "num_placeholders",
    "prompt_to_repeat",
    "num_paragraphs",
    "nth_paragraph",
    "first_word",
    "num_bullets",
    "section_spliter",
    "num_sections",
    "capital_relation",
    "capital_frequency",
    "keywords",
    "forbidden_words",
    "keyword",
    "frequency",
    "letter",
    "let_relation",
    "let_frequency",
    "end_phrase",
    "postscript_marker",
    "language",
    "num_sentences",
)
IFEVAL_ROWS = [  # (prompt, [(instruction id, kwargs)])
    ("Write a short note about apples. Do not use any commas.", [("punctuation:no_comma", {})]),
    (
        "Describe the sea in at least 3 sentences, all in lowercase letters.",
        [
            ("length_constraints:number_sentences", {"relation": "at least", "num_sentences": 3}),
            ("change_case:english_lowercase", {}),
        ],
    ),
    (
        "Write a poem with fewer than 4 words in all capital letters.",
        [
            (
                "change_case:capital_word_frequency",
                {"capital_relation": "less than", "capital_frequency": 4},
            )
        ],
    ),
]


def _math_row(i: int, subject: str, level: int) -> dict:
    return {
        "problem": f"What is ${i} + {level}$?",
        "level": f"Level {level}",
        "type": subject.replace("_", " ").title(),
        "solution": f"We add: ${i} + {level} = \\boxed{{{i + level}}}$.",
    }


def _gpqa_row(i: int, subset: str) -> dict:
    # The Hub rows carry ~30 annotation columns; the task reads these five.
    return {
        "Record ID": f"rec{i}",
        "Question": f"Which particle ({subset} {i}) has no charge?",
        "Correct Answer": "neutron",
        "Incorrect Answer 1": "proton",
        "Incorrect Answer 2": "electron",
        "Incorrect Answer 3": "positron [title] ion",
        "High-level domain": "Physics",
        "Subdomain": "Particle physics",
    }


def build_tspin10_copy(root: Path, real_bbh: Path | None = None) -> None:
    """The four v1 tasks (GSM8K, MMLU, HellaSwag, WinoGrande) and the six leaderboard-v2 ones.

    MATH rows mix levels 5 and 3 (the leaderboard keeps level 5 only); BBH has one file per
    leaderboard task, targets drawn from the task's own choices. IFEval needs nltk's
    punkt_tab, which cannot be fetched here: an empty-parameter Punkt model stands in for it,
    in the place `spin eval download` puts the real one (DIR/nltk_data).
    """
    import yaml

    build_openllm_copy(root)
    for name in MATH_SUBJECTS.values():
        rows = [_math_row(i, name, 5 if i % 2 == 0 else 3) for i in range(4)]
        write_jsonl(root / "math" / name / "train.jsonl", rows[:2])
        write_jsonl(root / "math" / name / "test.jsonl", rows)
    for split in MUSR_SPLITS:
        write_jsonl(
            root / "musr" / f"{split}.jsonl",
            [
                {
                    "narrative": f"A story ({split} {i}): Ann was in the kitchen.",
                    "question": "Who was in the kitchen?",
                    "choices": repr(["Ann", "Bob", "Cid"]),
                    "answer_index": i % 3,
                    "answer_choice": ["Ann", "Bob", "Cid"][i % 3],
                }
                for i in range(2)
            ],
        )
    options = ["4", "5", "3", "22", "6", "7", "8", "9", "10", "11"]
    pro = [
        {
            "question_id": i,
            "question": f"What is 2 + 2 ({i})?",
            "options": options[: 4 + i % 7],
            "answer": "A",
            "answer_index": 0,
            "cot_content": "A: Let's think step by step. 2 + 2 = 4.",
            "category": "math",
            "src": "fixture",
        }
        for i in range(8)
    ]
    write_jsonl(root / "mmlu_pro" / "validation.jsonl", pro[:5])
    write_jsonl(root / "mmlu_pro" / "test.jsonl", pro[5:])
    for subset in GPQA_SUBSETS:
        write_jsonl(
            root / "gpqa" / subset / "train.jsonl", [_gpqa_row(i, subset) for i in range(2)]
        )
    import lm_eval.tasks

    bbh_dir = Path(lm_eval.tasks.__file__).parent / "leaderboard" / "bbh_mc"
    for sub in load_suite("tspin-10").tasks["bbh"].subtasks:
        task = sub[len("leaderboard_bbh_") :]
        choices = yaml.safe_load((bbh_dir / f"{task}.yaml").read_text())["doc_to_choice"]
        _bbh_file(root, task, [choices[0], choices[-1]], real_bbh)
    write_jsonl(
        root / "ifeval" / "train.jsonl",
        [
            {
                "key": 1000 + i,
                "prompt": prompt,
                "instruction_id_list": [iid for iid, _ in instr],
                "kwargs": [{k: kw.get(k) for k in IFEVAL_KWARGS} for _, kw in instr],
            }
            for i, (prompt, instr) in enumerate(IFEVAL_ROWS)
        ],
    )
    punkt = root / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True, exist_ok=True)
    for name in ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab"):
        (punkt / name).write_text("")
