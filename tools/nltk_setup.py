"""Install WordNet 3.0 into the NLTK data folder (``src_helpers.data.textattack_recipes``) for TextAttack's offline
recipes: copied from Debian's ``wordnet-base``/``wordnet-sense-index`` packages (``/usr/share/wordnet``, plus the
``lexnames`` file NLTK wants), or with ``--download`` from ``nltk.download``. Idempotent.

    python -m tools.nltk_setup [--download]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from src_helpers.config import RESOURCES
from src_helpers.data.textattack_recipes import (
    NLTK_DATA_ENV,
    WORDNET_FILES,
    WordNetMissingError,
    nltk_data_dir,
    require_nltk_data,
    wordnet_ready,
)

DEBIAN_WORDNET = Path("/usr/share/wordnet")
INSTALL_HINT = "sudo apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index"
# WordNet's ``lexnames`` (the 45 lexicographer files of WordNet 3.0, man page lexnames.5WN), which Debian leaves out
LEXNAMES_FILE = RESOURCES / "wordnet_lexnames.txt"


def lexnames_text() -> str:
    """Content of WordNet's ``lexnames`` file: ``NN<TAB>name<TAB>category`` per line."""
    return LEXNAMES_FILE.read_text(encoding="utf-8")


def _copy_wordnet(source: Path, target: Path) -> None:
    missing = {("wordnet-sense-index" if f == "index.sense" else "wordnet-base"): f
               for f in WORDNET_FILES if not (source / f).exists()}
    if missing:
        raise WordNetMissingError(
            f"WordNet files missing in {source}: {sorted(missing.values())}; install the Debian package(s) "
            f"{sorted(missing)} ({INSTALL_HINT}), or online run: python -m tools.nltk_setup --download "
            "(on Colab, INSTALL_AUGMENT = True in the first cell does it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet_", dir=target.parent))  # same folder: atomic rename
    tmp.chmod(0o755)
    for name in WORDNET_FILES:
        shutil.copyfile(source / name, tmp / name)
    (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
    if target.exists() and not wordnet_ready(target.parent.parent):
        shutil.rmtree(target)  # an incomplete copy
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp)


def _download_wordnet(folder: Path) -> None:
    """``nltk.download('wordnet')`` into ``folder``; NLTK may leave it zipped (``corpora/wordnet.zip``): unzip it."""
    import nltk

    if not nltk.download("wordnet", download_dir=str(folder), quiet=True):
        raise WordNetMissingError(f"nltk.download('wordnet') failed (offline?); {INSTALL_HINT}")
    archive = folder / "corpora" / "wordnet.zip"
    if not wordnet_ready(folder) and archive.exists():
        with zipfile.ZipFile(archive) as z:
            z.extractall(folder / "corpora")  # its members are wordnet/<file>
    target = folder / "corpora" / "wordnet"
    if target.is_dir() and not (target / "lexnames").exists():
        (target / "lexnames").write_text(lexnames_text(), encoding="utf-8")
    if not wordnet_ready(folder):
        missing = [f for f in ("lexnames", *WORDNET_FILES) if not (target / f).exists()]
        raise WordNetMissingError(f"nltk.download('wordnet') left no usable WordNet in {target} (missing {missing})")


def prepare_nltk_data(folder: str | Path | None = None, wordnet_source: str | Path = DEBIAN_WORDNET,
                      download: bool = False, wordnet: bool = True) -> Path:
    """Make ``folder`` (default ``nltk_data_dir()``) hold ``stopwords`` and (unless ``wordnet=False``) WordNet,
    from Debian's files in ``wordnet_source``, or with ``download=True`` from ``nltk.download`` when those are
    missing. Returns the folder, also set as ``$NLTK_DATA``."""
    folder = Path(folder) if folder else nltk_data_dir()
    if wordnet and not wordnet_ready(folder):
        source = Path(wordnet_source)
        if download and not all((source / f).exists() for f in WORDNET_FILES):
            _download_wordnet(folder)
        else:
            _copy_wordnet(source, folder / "corpora" / "wordnet")
    return require_nltk_data(folder, wordnet)


def main() -> int:
    try:
        folder = prepare_nltk_data(download="--download" in sys.argv[1:])
    except WordNetMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"NLTK data ready in {folder} (export {NLTK_DATA_ENV}={folder})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
