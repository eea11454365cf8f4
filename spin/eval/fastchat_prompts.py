"""MT-Bench prompts as FastChat's gen_model_answer builds them, from FastChat itself.

gen_model_answer (fschat 0.2.36) renders each turn with `get_conversation_template(model_id)`:
the template is chosen from the *model id* (an id containing "zephyr" gets FastChat's zephyr
template, `<|system|>\\n</s>\\n<|user|>\\n...`, with its empty system turn; an id no adapter
knows gets the `one_shot` template), not from the model's own chat template. It then
tokenises the prompt with the tokenizer's special tokens (BOS for Mistral/Zephyr), cuts the
output at the template's stop string, drops special tokens and strips it; the cleaned answer
goes back into the conversation for turn 2.

fschat cannot live in the main environment (its judge extra pins openai<1, vLLM needs
openai>=2), so the templates come from the judge venv: one long-lived `python` of that venv
answers render requests, one JSON line each, with FastChat's own code. When fastchat is
importable here, the same code runs in-process instead.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from spin.errors import SpinError

FSCHAT_VERSION = "0.2.36"
PROMPT_SOURCES = ("fastchat", "hf-chat-template")
"""MT-Bench prompt settings: FastChat's conversation template for the model id, as
gen_model_answer (the official MT-Bench answer generator) builds it; or the model's own
Hugging Face chat template."""

# FastChat's side: gen_model_answer's prompt-building lines, for a list of conversations
# [user1, assistant1, user2, ...] (the last one a user turn).
_RENDER = """
from fastchat.model import get_conversation_template
def render(model_id, conversations):
    prompts, conv = [], get_conversation_template(model_id)
    for turns in conversations:
        conv = get_conversation_template(model_id)
        for k, text in enumerate(turns):
            conv.append_message(conv.roles[k % 2], text)
        conv.append_message(conv.roles[1], None)
        prompts.append(conv.get_prompt())
    return {"template": conv.name, "stop_str": conv.stop_str,
            "stop_token_ids": conv.stop_token_ids, "prompts": prompts}
"""
_SERVE = (
    _RENDER
    + """
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    try:
        out = render(req["model_id"], req["conversations"])
    except Exception as e:
        out = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
"""
)


@dataclass(frozen=True)
class Rendered:
    """FastChat's prompts for one batch of conversations, and its template's stop rules."""

    template: str
    prompts: list[str]
    stop_str: str | list[str] | None
    stop_token_ids: list[int] | None

    def clean(self, output: str) -> str:
        """gen_model_answer's post-processing of a decoded answer (special tokens already
        dropped by the decoder): cut at the first stop string found after position 0, the
        xgen template's "Assistant:" prefix removed, then strip()."""
        if isinstance(self.stop_str, list):
            found = sorted(i for s in self.stop_str if (i := output.find(s)) > 0)
            if found:
                output = output[: found[0]]
        elif self.stop_str and output.find(self.stop_str) > 0:
            output = output[: output.find(self.stop_str)]
        output = output.strip()
        if self.template == "xgen" and output.startswith("Assistant:"):
            output = output.replace("Assistant:", "", 1).strip()
        return output


class FastChatTemplates:
    """Renders conversations with FastChat's templates; use as a context manager.

    python: the judge venv's interpreter (JudgeConfig.python_path()); ignored when fastchat
    is importable in this process.
    """

    def __init__(self, python: str | Path):
        self.python = Path(python)
        self._proc: subprocess.Popen | None = None
        self._stderr = None  # a file, not a pipe: a chatty import cannot fill it and block
        self._render = None

    def __enter__(self) -> FastChatTemplates:
        if importlib.util.find_spec("fastchat") is not None:
            scope: dict = {}
            exec(_RENDER, scope)  # FastChat's own code, in-process
            self._render = scope["render"]
            return self
        if not self.python.exists():
            raise SpinError(
                f"MT-Bench prompts use FastChat's conversation templates, from the judge venv, "
                f"but {self.python} does not exist (scripts/install.sh --judge, or "
                "SPIN_JUDGE_PYTHON); or pass --mt-bench-prompt hf-chat-template"
            )
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8")
        self._proc = subprocess.Popen(
            [str(self.python), "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
            self._stderr.close()

    def render(self, model_id: str, conversations: list[list[str]]) -> Rendered:
        """FastChat's prompt for each conversation [user1, assistant1, user2, ...]."""
        if self._render is not None:
            out = self._render(model_id, conversations)
        else:
            out = self._ask({"model_id": model_id, "conversations": conversations})
        if "error" in out:
            raise SpinError(f"FastChat could not render model id '{model_id}': {out['error']}")
        return Rendered(out["template"], out["prompts"], out["stop_str"], out["stop_token_ids"])

    def _ask(self, request: dict) -> dict:
        if self._proc is None:
            raise RuntimeError("FastChatTemplates used outside its `with` block")
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            self._stderr.seek(0)
            err = self._stderr.read()[-2000:]
            raise SpinError(f"the judge venv's python ({self.python}) stopped: {err}")
        return json.loads(line)
