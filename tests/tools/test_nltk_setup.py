from __future__ import annotations

import os
from pathlib import Path

import pytest

from src_helpers.data import textattack_recipes as nltk_setup
from src_helpers.data.textattack_recipes import WordNetMissingError, require_nltk_data, stopwords_ready, wordnet_ready
from tools.nltk_setup import DEBIAN_WORDNET, lexnames_text, prepare_nltk_data


def fake_debian_wordnet(folder: Path, skip: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in nltk_setup.WORDNET_FILES:
        if name not in skip:
            (folder / name).write_text(f"fake {name}\n")
    return folder


def test_lexnames_has_the_45_numbered_files() -> None:
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2" and lines[44] == "44\tadj.ppl\t3"
    assert [int(line.split("\t")[0]) for line in lines] == list(range(45))


def test_stopword_list_is_shipped() -> None:
    words = nltk_setup.STOPWORDS_FILE.read_text(encoding="utf-8").split()
    assert len(words) == len(set(words)) == 179 and {"not", "no", "the", "don't"} <= set(words)


def test_prepare_copies_wordnet_writes_lexnames_and_is_idempotent(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NLTK_DATA", raising=False)
    source = fake_debian_wordnet(tmp_path / "debian")
    folder = prepare_nltk_data(tmp_path / "nltk", wordnet_source=source)
    wn = folder / "corpora" / "wordnet"
    assert wordnet_ready(folder) and stopwords_ready(folder)
    assert (wn / "index.sense").read_text() == "fake index.sense\n"
    assert (wn / "lexnames").read_text() == lexnames_text()
    assert os.environ["NLTK_DATA"].split(os.pathsep)[0] == str(folder)
    before = {p: p.stat().st_mtime_ns for p in wn.iterdir()}
    prepare_nltk_data(tmp_path / "nltk", wordnet_source=tmp_path / "gone")  # already there: no copy needed
    assert {p: p.stat().st_mtime_ns for p in wn.iterdir()} == before


def test_missing_debian_package_is_named(tmp_path: Path) -> None:
    source = fake_debian_wordnet(tmp_path / "debian", skip=("index.sense",))
    with pytest.raises(WordNetMissingError, match=r"wordnet-sense-index.*apt-get install"):
        prepare_nltk_data(tmp_path / "nltk", wordnet_source=source)
    with pytest.raises(WordNetMissingError, match="wordnet-base"):
        prepare_nltk_data(tmp_path / "nltk", wordnet_source=tmp_path / "nothing")
    folder = prepare_nltk_data(tmp_path / "nltk2", wordnet_source=tmp_path / "nothing", wordnet=False)
    assert stopwords_ready(folder) and not wordnet_ready(folder)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "unzipped"])
def test_download_leaves_an_unzipped_wordnet_when_debian_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   zipped: bool) -> None:
    """Colab has no Debian WordNet: ``--download`` fetches it with nltk, which may leave a zip; either way the
    augmentation (which reads ``corpora/wordnet/``) must find it ready."""
    import sys
    import types
    import zipfile

    def fake_download(name: str, download_dir: str, quiet: bool) -> bool:
        corpora = Path(download_dir) / "corpora"
        corpora.mkdir(parents=True, exist_ok=True)
        if zipped:
            with zipfile.ZipFile(corpora / f"{name}.zip", "w") as z:
                for f in nltk_setup.WORDNET_FILES:
                    z.writestr(f"{name}/{f}", f"fake {f}\n")
        else:
            fake_debian_wordnet(corpora / name)
        return True

    monkeypatch.setitem(sys.modules, "nltk", types.SimpleNamespace(download=fake_download))
    monkeypatch.delenv("NLTK_DATA", raising=False)
    folder = prepare_nltk_data(tmp_path / "nltk", wordnet_source=tmp_path / "no-debian", download=True)
    assert wordnet_ready(folder) and stopwords_ready(folder)
    assert (folder / "corpora" / "wordnet" / "lexnames").read_text() == lexnames_text()


def test_failed_download_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "nltk", types.SimpleNamespace(download=lambda *a, **k: False))
    monkeypatch.delenv("NLTK_DATA", raising=False)
    with pytest.raises(WordNetMissingError, match="nltk.download"):
        prepare_nltk_data(tmp_path / "nltk", wordnet_source=tmp_path / "no-debian", download=True)


def test_default_folder_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLTK_DATA", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert nltk_setup.nltk_data_dir() == tmp_path / "a"
    monkeypatch.delenv("NLTK_DATA")
    assert nltk_setup.nltk_data_dir() == nltk_setup.DEFAULT_NLTK_DIR


@pytest.mark.skipif(not DEBIAN_WORDNET.joinpath("data.noun").exists(),
                    reason="Debian packages wordnet-base / wordnet-sense-index not installed")
@pytest.mark.filterwarnings("ignore:The multilingual functions")
def test_nltk_reads_the_prepared_wordnet(tmp_path: Path) -> None:
    pytest.importorskip("nltk", reason="NLTK comes with the optional 'augment' extra: pip install -e '.[augment]'")
    from nltk.corpus.reader import WordListCorpusReader, WordNetCorpusReader

    folder = prepare_nltk_data(tmp_path / "nltk")
    wn = WordNetCorpusReader(str(folder / "corpora" / "wordnet"), None)
    assert wn.get_version() == "3.0"
    assert wn.synsets("happy")[0].name() == "happy.a.01" and wn.synset("dog.n.01").lexname() == "noun.animal"
    assert wn.lemma_from_key("dog%1:05:00::").synset().name() == "dog.n.01"  # index.sense
    stop = WordListCorpusReader(str(folder / "corpora" / "stopwords"), ["english"])
    assert len(stop.words("english")) == 179


def test_the_package_copies_stopwords_and_names_the_wordnet_installer(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NLTK_DATA", raising=False)
    with pytest.raises(WordNetMissingError, match=r"python -m tools\.nltk_setup"):
        require_nltk_data(tmp_path / "nltk")
    assert stopwords_ready(require_nltk_data(tmp_path / "nltk", wordnet=False))
