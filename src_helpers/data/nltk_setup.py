"""An offline NLTK data folder for TextAttack (``import textattack`` needs NLTK's ``stopwords``, its WordNet recipes
``wordnet``): WordNet 3.0 copied from Debian's ``wordnet-base``/``wordnet-sense-index`` packages
(``/usr/share/wordnet``, plus the ``lexnames`` file NLTK wants) and the stopword list of
``resources/stopwords_english.txt``. ``python -m src_helpers.data.nltk_setup`` (idempotent; ``--download``
online) prepares it."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from src_helpers.config import REPO_ROOT, RESOURCES

NLTK_DATA_ENV = "NLTK_DATA"
DEFAULT_NLTK_DIR = REPO_ROOT / ".cache" / "nltk_data"  # git-ignored
DEBIAN_WORDNET = Path("/usr/share/wordnet")
STOPWORDS_FILE = RESOURCES / "stopwords_english.txt"
INSTALL_HINT = "sudo apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index"

# file -> Debian package that ships it
WORDNET_FILES: dict[str, str] = {
    **{f"{kind}.{pos}": "wordnet-base" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")},
    **{f"{pos}.exc": "wordnet-base" for pos in ("noun", "verb", "adj", "adv")},
    "cntlist.rev": "wordnet-base",
    "index.sense": "wordnet-sense-index",
}

# WordNet's ``lexnames`` (the 45 lexicographer files of WordNet 3.0, man page lexnames.5WN), which Debian leaves out
LEXNAMES_FILE = RESOURCES / "wordnet_lexnames.txt"


class WordNetMissingError(RuntimeError):
    """WordNet is neither in the NLTK data folder nor installed from Debian's packages."""


def lexnames_text() -> str:
    """Content of WordNet's ``lexnames`` file: ``NN<TAB>name<TAB>category`` per line."""
    return LEXNAMES_FILE.read_text(encoding="utf-8")


def nltk_data_dir() -> Path:
    """The folder we prepare: the first entry of ``$NLTK_DATA``, else ``.cache/nltk_data`` in the repo."""
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


def _copy_wordnet(source: Path, target: Path) -> None:
    missing = {pkg: f for f, pkg in WORDNET_FILES.items() if not (source / f).exists()}
    if missing:
        raise WordNetMissingError(
            f"WordNet files missing in {source}: {sorted(missing.values())}; install the Debian package(s) "
            f"{sorted(missing)} ({INSTALL_HINT}), or online run: python -m src_helpers.data.nltk_setup --download "
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
    """Make ``folder`` (default :func:`nltk_data_dir`) hold ``stopwords`` and (unless ``wordnet=False``) WordNet,
    from Debian's files in ``wordnet_source``, or with ``download=True`` from ``nltk.download`` when those are
    missing. Idempotent; returns the folder, also set as ``$NLTK_DATA``."""
    folder = Path(folder) if folder else nltk_data_dir()
    stop_dir = folder / "corpora" / "stopwords"
    if not stopwords_ready(folder):
        stop_dir.mkdir(parents=True, exist_ok=True)
        tmp = stop_dir / f".english.{os.getpid()}"
        shutil.copyfile(STOPWORDS_FILE, tmp)
        tmp.replace(stop_dir / "english")
    if wordnet and not wordnet_ready(folder):
        source = Path(wordnet_source)
        if download and not all((source / f).exists() for f in WORDNET_FILES):
            _download_wordnet(folder)
        else:
            _copy_wordnet(source, folder / "corpora" / "wordnet")
    return use_nltk_data(folder)


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
