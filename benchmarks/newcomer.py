"""What a newcomer waits for and stores: the two README commands on a fresh clone, timed, and the disk they fill.

    python benchmarks/newcomer.py --json benchmarks/results/newcomer.json

Clones this checkout's HEAD into a temporary folder, runs ``make run`` (the quick profile; the first call also
creates ``.venv`` and installs everything) and then ``make test``, and records each one's wall time, the sizes
of the clone, ``.venv`` and ``.smoke/``, and the machine (CPU, cores, load before the start). pip's download
cache is the user's own: a first install on a new machine also downloads the wheels. The README's quick-start
section is generated from the JSON (``tools.readme_sections.newcomer``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import provenance  # noqa: E402


def size_mb(path: Path) -> float:
    """Bytes of the regular files under ``path`` (links not followed), in MB."""
    total = sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return round(total / 2**20, 1)


def timed(command: list[str], cwd: Path, log: Path) -> float:
    """Run ``command`` in ``cwd`` (output to ``log``); its wall time in seconds. A failure stops the benchmark."""
    start = time.monotonic()
    with open(log, "a") as out:
        subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=True)
    return round(time.monotonic() - start, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, required=True, help="where to write the measurements")
    p.add_argument("--keep", action="store_true", help="keep the temporary clone")
    a = p.parse_args(argv)
    commit, dirty = provenance.git_state()
    work = Path(tempfile.mkdtemp(prefix="newcomer_"))
    clone, log = work / "emotion-classification", work / "newcomer.log"
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        clone_mb = size_mb(clone)
        env_load = os.getloadavg()[0]
        run_s = timed(["make", "run"], clone, log)
        test_s = timed(["make", "test"], clone, log)
        result = {"date": dt.date.today().isoformat(), "commit": commit, "dirty": dirty,
                  "cpu": provenance.cpu_name(), "cores": os.cpu_count(), "load_before": round(env_load, 2),
                  "results": {"make_run_s": run_s, "make_test_s": test_s, "clone_mb": clone_mb,
                              "venv_mb": size_mb(clone / ".venv"), "smoke_mb": size_mb(clone / ".smoke")}}
    except subprocess.CalledProcessError as e:
        print(f"{' '.join(e.cmd)} failed; its output: {log} (the clone is kept)", file=sys.stderr)
        a.keep = True
        return 1
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    a.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
