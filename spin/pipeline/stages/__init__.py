"""One class per kind of stage, each with its typed config, its input stages and its
declared outputs; the kinds with a CLI verb build one argv() that run() executes and
`spin plan --commands` prints.

    data.py        Prepare (and Records: a prepared file with its record count)
    models.py      BaseModel, and ModelStage: what every checkpoint-producing stage is
    generation.py  Generate, Pairs
    training.py    SFT, Train (`spin train`, in-process or under accelerate launch)
    evaluation.py  Dynamics, Eval
"""

from spin.pipeline.stages.data import Prepare, Records
from spin.pipeline.stages.evaluation import Dynamics, Eval
from spin.pipeline.stages.generation import Generate, Pairs
from spin.pipeline.stages.models import BaseModel, ModelStage, model_path
from spin.pipeline.stages.training import SFT, Train, Workload, train_command

__all__ = [
    "SFT",
    "BaseModel",
    "Dynamics",
    "Eval",
    "Generate",
    "ModelStage",
    "Pairs",
    "Prepare",
    "Records",
    "Train",
    "Workload",
    "model_path",
    "train_command",
]
