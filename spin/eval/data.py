"""Where each subtask's data comes from: the Hub at a pinned revision, or a local copy.

eval/datasets.yaml maps every lm-eval subtask to its Hub dataset and to its place in a
local copy. `overrides()` turns that into the `dataset_path` / `dataset_kwargs` overrides a
group member may carry, so lm-eval's own task definitions run unchanged on either source.
`download()` makes a local copy on a networked machine.

Local layout under DIR (see eval/README.md):
    DIR/<local>/<split>.jsonl      one file per split, split = file stem
    DIR/bbh/<task>.json            BIG-Bench-Hard's own format, {"examples": [{input, target}]}
    DIR/eval.jsonl                 the tiny suite's items
    DIR/nltk_data/                 nltk resources a task's scoring loads (IFEval: punkt_tab)
    DIR/MANIFEST.json              written by download: sources, resolved revisions, sha256s
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
from collections.abc import Iterator
from pathlib import Path

from spin.errors import DataError, SpinError
from spin.eval.suites import Suite, eval_dir

BBH_FORMAT = "bbh"
NLTK_DIR = "nltk_data"


@functools.cache
def _manifest() -> dict[str, dict]:
    import yaml

    return yaml.safe_load((eval_dir() / "datasets.yaml").read_text())


def dataset_spec(subtask: str) -> dict:
    """The datasets.yaml entry of one lm-eval subtask."""
    spec = _manifest().get(subtask)
    if spec is None:
        raise SpinError(f"eval/datasets.yaml has no entry for lm-eval task '{subtask}'")
    return spec


def local_files(subtask: str, data_dir: str | Path) -> dict:
    """data_files (and `field`) for one subtask's local copy; DataError if it is missing."""
    spec, root = dataset_spec(subtask), Path(data_dir)
    if "local_file" in spec:
        path = root / spec["local_file"]
        if not path.is_file():
            raise DataError(path, f"local copy for lm-eval task '{subtask}' not found")
        if spec.get("format") == BBH_FORMAT:
            return {"data_files": {"test": str(path)}, "field": "examples"}
        return {"data_files": {spec.get("split", "test"): str(path)}}
    folder = root / spec["local"]
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError(folder, f"no <split>.jsonl files for lm-eval task '{subtask}'")
    return {"data_files": {f.stem: str(f) for f in files}}


def overrides(subtask: str, data_dir: str | Path | None) -> dict:
    """Group-member overrides for one subtask: a local copy, or the Hub at its pinned revision."""
    spec = dataset_spec(subtask)
    if data_dir is not None:
        return {
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": local_files(subtask, data_dir),
        }
    if spec.get("hub") is None:
        raise SpinError(f"lm-eval task '{subtask}' has only local data: pass --data-dir")
    if spec.get("revision"):
        return {"dataset_kwargs": {"revision": spec["revision"]}}
    return {}


def sources(suite: Suite, data_dir: str | Path | None) -> dict[str, dict]:
    """Per subtask: where its data was read from (recorded in the results' provenance).

    A local copy is recorded file by file, as the resolved path and its sha256, so a
    results file names the exact bytes it was scored on.
    """
    from spin.io import sha256_file

    out = {}
    for sub in suite.subtasks():
        spec = dataset_spec(sub)
        if data_dir is not None:
            files = local_files(sub, data_dir)["data_files"]
            out[sub] = {
                "local": {
                    split: {"path": str(Path(f).resolve()), "sha256": sha256_file(f)}
                    for split, f in files.items()
                }
            }
        else:
            out[sub] = {k: spec.get(k) for k in ("hub", "name", "revision")}
    return out


def manifest_warning(suite: Suite, data_dir: str | Path | None) -> str | None:
    """A warning when a local copy of Hub data has no DIR/MANIFEST.json (written by
    `spin eval download`): its files' sha256s are recorded, but not which Hub revision
    they came from. Data that exists only locally (the tiny suite's) needs none."""
    if data_dir is None or (Path(data_dir) / "MANIFEST.json").is_file():
        return None
    if all(dataset_spec(sub).get("hub") is None for sub in suite.subtasks()):
        return None
    return (
        f"{data_dir}: no MANIFEST.json, so the Hub revision of this local copy is unknown "
        f"(its files' sha256s are recorded); `spin eval download {suite.name} --data-dir "
        "DIR` writes one"
    )


@contextlib.contextmanager
def nltk_resources(suite: Suite, data_dir: str | Path | None) -> Iterator[dict[str, str]]:
    """Make the nltk resources a suite's scoring needs findable, before any model loads.

    IFEval's checks count sentences and words with nltk's punkt_tab, which lm-eval downloads
    when it imports the task; offline that download fails with a printed warning and the
    run crashes at scoring time, after all the generation. With --data-dir, DIR/nltk_data
    (written by `spin eval download`) is searched first, for the duration of the block;
    otherwise nltk's own download is tried here. Yields {resource: where it was found}.
    """
    needed = suite.nltk_data()
    if not needed:
        yield {}
        return
    import nltk

    saved = list(nltk.data.path)
    local = Path(data_dir) / NLTK_DIR if data_dir is not None else None
    if local is not None and local.is_dir():
        nltk.data.path.insert(0, str(local))
    try:
        yield {r: _find_nltk(r, suite.name, local) for r in needed}
    finally:
        nltk.data.path[:] = saved


def _find_nltk(resource: str, suite: str, local: Path | None) -> str:
    import nltk

    try:
        return str(nltk.data.find(resource))
    except LookupError:
        pass
    if local is None:  # networked runs: fetch it now rather than at lm-eval's import
        nltk.download(Path(resource).name, quiet=True, raise_on_error=False)
        try:
            return str(nltk.data.find(resource))
        except LookupError:
            pass
    raise DataError(
        local or "nltk's data path",
        f"nltk resource '{resource}' not found (IFEval's scoring needs it); run "
        f"`spin eval download {suite} --data-dir DIR` on a networked machine, or "
        f"`python -m nltk.downloader -d DIR/{NLTK_DIR} {Path(resource).name}`",
    )


def download(suite: Suite, data_dir: str | Path) -> Path:
    """Copy every subtask's Hub data into the local layout (needs network access).

    Writes DIR/MANIFEST.json with each dataset's requested and resolved revision and the
    sha256 of every file, so a later offline run can be traced to exact data.
    """
    import json

    import datasets
    from huggingface_hub import HfApi

    from spin.io import sha256_file, write_json

    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"datasets": {}}
    for sub in suite.subtasks():
        spec = dataset_spec(sub)
        if spec.get("hub") is None:
            continue  # tiny: written by the pipeline, not downloaded
        ds = datasets.load_dataset(spec["hub"], spec.get("name"), revision=spec.get("revision"))
        files = []
        if spec.get("format") == BBH_FORMAT:
            path = root / spec["local_file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"examples": list(ds["test"])}, ensure_ascii=False))
            files.append(path)
        else:
            for split, part in ds.items():
                path = root / spec["local"] / f"{split}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                part.to_json(str(path), lines=True, force_ascii=False)
                files.append(path)
        if Path(spec["hub"]).is_dir():  # a local mirror of the Hub dataset: nothing to resolve
            resolved = None
        else:
            resolved = HfApi().dataset_info(spec["hub"], revision=spec.get("revision")).sha
        if resolved and spec.get("revision") and not resolved.startswith(spec["revision"]):
            raise SpinError(
                f"{spec['hub']}: pinned revision {spec['revision']} resolved to "
                f"{resolved} (eval/datasets.yaml, task '{sub}')"
            )
        manifest["datasets"][sub] = {
            "hub": spec["hub"],
            "name": spec.get("name"),
            "requested_revision": spec.get("revision"),
            "resolved_revision": resolved,
            "files": {str(f.relative_to(root)): sha256_file(f) for f in files},
        }
    for resource in suite.nltk_data():
        import nltk

        target = root / NLTK_DIR
        if not nltk.download(Path(resource).name, download_dir=str(target), quiet=True):
            raise SpinError(f"nltk could not download '{resource}' into {target}")
        files = sorted(p for p in (target / resource).rglob("*") if p.is_file())
        manifest.setdefault("nltk_data", {})[resource] = {
            str(f.relative_to(root)): sha256_file(f) for f in files
        }
    manifest["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    write_json(manifest_path, manifest)
    return manifest_path
