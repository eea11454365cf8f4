"""nltk's punkt_tab (IFEval's sentence and word counts), fetched pinned and checked.

lm-eval would download it unpinned when it imports IFEval. Here it comes from nltk_data at a
fixed commit, and the archive must match the sha256 that nltk_data's index.xml lists for it
(the same value is pinned in several public build recipes). Standard library only: the
Dockerfile runs this file before the project is installed.

usage: python spin/nltk_data.py DEST     (writes DEST/tokenizers/punkt_tab/)
"""

from __future__ import annotations

import hashlib
import io
import sys
import urllib.request
import zipfile
from pathlib import Path

PUNKT_TAB_COMMIT = "550b6625bcef1f2abff2ff770a5a0d272c9c6b2a"
PUNKT_TAB_URL = (
    f"https://raw.githubusercontent.com/nltk/nltk_data/{PUNKT_TAB_COMMIT}"
    "/packages/tokenizers/punkt_tab.zip"
)
PUNKT_TAB_SHA256 = "e57f64187974277726a3417ca6f181ec5403676c717672eef6a748a7b20e0106"


def install_punkt_tab(dest: str | Path, url: str = PUNKT_TAB_URL) -> Path:
    """Fetch punkt_tab.zip from `url`, check its sha256, unpack it under DEST/tokenizers."""
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    got = hashlib.sha256(data).hexdigest()
    if got != PUNKT_TAB_SHA256:
        raise ValueError(f"{url}: sha256 {got}, expected {PUNKT_TAB_SHA256}; nothing written")
    out = Path(dest) / "tokenizers"
    out.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(io.BytesIO(data)).extractall(out)
    return out / "punkt_tab"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    try:
        print(install_punkt_tab(sys.argv[1]))
    except (OSError, ValueError) as e:
        sys.exit(f"punkt_tab: {e}")
