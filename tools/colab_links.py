"""Open-in-Colab badges and the Colab set-up cell's ``REPO_URL``, all derived from one place.

That place is ``Repository`` under ``[project.urls]`` in ``pyproject.toml``. A fork points every badge (README's
notebook table, each notebook's first cell) and every set-up cell's ``REPO_URL`` at itself with::

    python -m tools.colab_links --repo OWNER/NAME     # rewrites pyproject.toml, README.md, notebooks/*.ipynb
    python -m tools.colab_links --check               # lists what disagrees with pyproject.toml

Standard library only: it runs before the package's dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from . import REPO_ROOT

PLACEHOLDER_OWNER = "YOUR-ACCOUNT"  # the set-up cell refuses to clone while REPO_URL still names it
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(
    r"\[!\[Open In Colab\]\(" + re.escape(BADGE_IMAGE) + r"\)\]"
    r"\(https://colab\.research\.google\.com/github/(?P<owner>[^/)\s]+)/(?P<name>[^/)\s]+)"
    r"/blob/(?P<branch>[^/)\s]+)/notebooks/(?P<file>[^/)\s]+\.ipynb)\)")
REPO_URL_RE = re.compile(r'^(\s*REPO_URL = )"[^"]*"', re.M)
REPOSITORY_RE = re.compile(r'^(Repository\s*=\s*)"https://github\.com/([^/"]+)/([^/"]+?)/?"', re.M)
README_ROW_RE = re.compile(r"^\| `(?P<stem>\d\d_\w+)` \|.*$", re.M)


def repository(root: Path = REPO_ROOT) -> tuple[str, str]:
    """(owner, name) of ``Repository`` in ``[project.urls]`` of ``root/pyproject.toml``."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.urls]", 1)[1].split("\n[", 1)[0] if "[project.urls]" in text else ""
    m = REPOSITORY_RE.search(section)
    if not m:
        raise ValueError(f'{root / "pyproject.toml"}: no Repository = "https://github.com/OWNER/NAME" '
                         "under [project.urls]")
    return m.group(2), m.group(3)


def clone_url(owner: str, name: str) -> str:
    return f"https://github.com/{owner}/{name}.git"


def badge(owner: str, name: str, notebook: str) -> str:
    """The Markdown badge that opens ``notebooks/<notebook>`` of ``owner/name`` (branch main) in Colab."""
    return (f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{owner}/{name}"
            f"/blob/{BRANCH}/notebooks/{notebook})")


def notebooks(root: Path = REPO_ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# ------------------------------------------------------------------ notebook files (format kept byte for byte)

def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text if isinstance(cell["source"], str) else text.splitlines(keepends=True)


def _first(nb: dict, cell_type: str) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == cell_type)


def set_repo_url(text: str, url: str) -> str:
    """``text`` (a set-up cell) with its ``REPO_URL = "..."`` assignment set to ``url``."""
    new, n = REPO_URL_RE.subn(lambda m: f'{m.group(1)}"{url}"', text)
    if n != 1:
        raise ValueError(f"expected one REPO_URL assignment in the set-up cell, found {n}")
    return new


def set_notebook_repo_url(path: Path, url: str, out: Path | None = None) -> Path:
    """Write ``path`` (or a copy at ``out``) with the set-up cell's REPO_URL set to ``url``, as a user edits it."""
    nb = _read(path)
    cell = _first(nb, "code")
    _set_source(cell, set_repo_url(_source(cell), url))
    _write(out or path, nb)
    return out or path


def _with_badge(markdown: str, owner: str, name: str, notebook: str) -> str:
    """The first markdown cell with its badge pointing at ``notebook``; one is added under the title if absent."""
    new = badge(owner, name, notebook)
    if BADGE_RE.search(markdown):
        return BADGE_RE.sub(lambda m: new, markdown)
    title, _, rest = markdown.partition("\n")
    return f"{title}\n\n{new}\n" + (f"\n{rest.lstrip(chr(10))}" if rest.strip() else "")


# ------------------------------------------------------------------ check and rewrite

def problems(root: Path = REPO_ROOT) -> list[str]:
    """Everything that disagrees with pyproject.toml's Repository: badges (README, notebooks) and REPO_URL."""
    owner, name = repository(root)
    found: list[str] = []
    for path in notebooks(root):
        nb = _read(path)
        md = _source(_first(nb, "markdown"))
        if [m.group(0) for m in BADGE_RE.finditer(md)] != [badge(owner, name, path.name)]:
            found.append(f"{path.name}: the first markdown cell needs one badge: {badge(owner, name, path.name)}")
        urls = re.findall(r'^\s*REPO_URL = "([^"]*)"', _source(_first(nb, "code")), re.M)
        if urls != [clone_url(owner, name)]:
            found.append(f"{path.name}: the set-up cell's REPO_URL is {urls}, not {clone_url(owner, name)!r}")
    readme = (root / "README.md").read_text(encoding="utf-8")
    rows = {m.group("stem"): m.group(0) for m in README_ROW_RE.finditer(readme)}
    for path in notebooks(root):
        row = rows.get(path.stem)
        if row is None or badge(owner, name, path.name) not in row:
            found.append(f"README.md: the notebook table's row `{path.stem}` needs {badge(owner, name, path.name)}")
    names = {p.name for p in notebooks(root)}
    for m in BADGE_RE.finditer(readme):
        where = (m.group("owner"), m.group("name"), m.group("branch"))
        if where != (owner, name, BRANCH) or m.group("file") not in names:
            found.append(f"README.md: badge {m.group(0)} is not {owner}/{name} ({BRANCH}) or names no notebook")
    return found


def rewrite(owner: str, name: str, root: Path = REPO_ROOT) -> list[Path]:
    """Point pyproject.toml's Repository, every badge and every set-up cell's REPO_URL at ``owner/name``."""
    if not re.fullmatch(r"[\w.-]+", owner) or not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"expected OWNER/NAME as on GitHub, got {owner}/{name}")
    changed: list[Path] = []
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    repository(root)  # there is a Repository entry to rewrite
    new = REPOSITORY_RE.sub(lambda m: f'{m.group(1)}"https://github.com/{owner}/{name}"', text, count=1)
    if new != text:
        pyproject.write_text(new, encoding="utf-8")
        changed.append(pyproject)
    for path in notebooks(root):
        nb = _read(path)
        md, code = _first(nb, "markdown"), _first(nb, "code")
        before = json.dumps(nb)
        _set_source(md, _with_badge(_source(md), owner, name, path.name))
        _set_source(code, set_repo_url(_source(code), clone_url(owner, name)))
        if json.dumps(nb) != before:
            _write(path, nb)
            changed.append(path)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = BADGE_RE.sub(lambda m: badge(owner, name, m.group("file")), text)
    if new != text:
        readme.write_text(new, encoding="utf-8")
        changed.append(readme)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.colab_links", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", metavar="OWNER/NAME", help="your fork on GitHub: rewrite badges and REPO_URL")
    parser.add_argument("--check", action="store_true", help="list what disagrees with pyproject.toml (exit 1 if any)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repo:
        owner, _, name = args.repo.removeprefix("https://github.com/").removesuffix(".git").strip("/").partition("/")
        for path in rewrite(owner, name, args.root):
            print("rewrote", path.relative_to(args.root))
    found = problems(args.root)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        owner, name = repository(args.root)
        print(f"badges and REPO_URL point at {owner}/{name}")
        if owner == PLACEHOLDER_OWNER:
            print("a fork points them at itself with: python -m tools.colab_links --repo OWNER/NAME")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
