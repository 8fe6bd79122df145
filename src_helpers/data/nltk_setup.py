"""Where TextAttack finds NLTK's data (``import textattack`` needs ``stopwords``, its WordNet recipes ``wordnet``):
the first entry of ``$NLTK_DATA``, else ``.cache/nltk_data``. ``python -m tools.nltk_setup`` installs WordNet there."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from src_helpers.config import REPO_ROOT, RESOURCES

NLTK_DATA_ENV = "NLTK_DATA"
DEFAULT_NLTK_DIR = REPO_ROOT / ".cache" / "nltk_data"  # git-ignored
STOPWORDS_FILE = RESOURCES / "stopwords_english.txt"

# WordNet 3.0 file -> Debian package that ships it
WORDNET_FILES: dict[str, str] = {
    **{f"{kind}.{pos}": "wordnet-base" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")},
    **{f"{pos}.exc": "wordnet-base" for pos in ("noun", "verb", "adj", "adv")},
    "cntlist.rev": "wordnet-base",
    "index.sense": "wordnet-sense-index",
}


class WordNetMissingError(RuntimeError):
    """WordNet is not in the NLTK data folder (or cannot be installed there)."""


def nltk_data_dir() -> Path:
    """The first entry of ``$NLTK_DATA``, else ``.cache/nltk_data`` in the repo."""
    env = os.environ.get(NLTK_DATA_ENV, "")
    first = env.split(os.pathsep)[0] if env else ""
    return Path(first).expanduser() if first else DEFAULT_NLTK_DIR


def use_nltk_data(folder: str | Path | None = None) -> Path:
    """Point ``$NLTK_DATA`` (child processes) and ``nltk.data.path`` (this process) at ``folder``."""
    folder = Path(folder) if folder else nltk_data_dir()
    entries = [e for e in os.environ.get(NLTK_DATA_ENV, "").split(os.pathsep) if e]
    if str(folder) not in entries:
        os.environ[NLTK_DATA_ENV] = os.pathsep.join([str(folder), *entries])
    if "nltk.data" in sys.modules:  # already imported: its search path was read from the environment then
        path = sys.modules["nltk.data"].path
        if str(folder) not in path:
            path.insert(0, str(folder))
    return folder


def wordnet_ready(folder: str | Path | None = None) -> bool:
    target = Path(folder or nltk_data_dir()) / "corpora" / "wordnet"
    return all((target / f).exists() for f in ("lexnames", *WORDNET_FILES))


def stopwords_ready(folder: str | Path | None = None) -> bool:
    return (Path(folder or nltk_data_dir()) / "corpora" / "stopwords" / "english").exists()


def require_nltk_data(folder: str | Path | None = None, wordnet: bool = True) -> Path:
    """``folder`` (default :func:`nltk_data_dir`) as NLTK's data: the stopword list copied in when missing, and
    WordNet required unless ``wordnet=False``. Returns the folder, also set as ``$NLTK_DATA``."""
    folder = Path(folder) if folder else nltk_data_dir()
    if not stopwords_ready(folder):
        stop_dir = folder / "corpora" / "stopwords"
        stop_dir.mkdir(parents=True, exist_ok=True)
        tmp = stop_dir / f".english.{os.getpid()}"
        shutil.copyfile(STOPWORDS_FILE, tmp)
        tmp.replace(stop_dir / "english")
    if wordnet and not wordnet_ready(folder):
        raise WordNetMissingError(f"no WordNet in {folder}: run python -m tools.nltk_setup (--download when "
                                  "online; on Colab, INSTALL_AUGMENT = True in the first cell does it)")
    return use_nltk_data(folder)
