"""Print the table of ``src_helpers/resources/official_data.json``: the identity (rows and content hash per split)
of the official GoEmotions and DAIR.AI emotion folders given.

    python -m tools.official_data GOEMOTIONS_DIR DAIR_DIR > src_helpers/resources/official_data.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from src_helpers.data.dair import load_dair_emotion
from src_helpers.data.goemotions import load_goemotions
from src_helpers.data.official import identity


def main(argv: Sequence[str] | None = None) -> int:
    goemotions_dir, dair_dir = (argv if argv is not None else sys.argv[1:])[:2]
    table = {"goemotions": identity(load_goemotions(Path(goemotions_dir), source="local")),
             "dair_emotion": identity(load_dair_emotion(Path(dair_dir), source="local"))}
    print(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
