"""Regenerate Pulumi.yaml's `config:` block from the section models (components/config/).

python -m tools.project_config           # rewrite Pulumi.yaml
python -m tools.project_config --check   # exit 1 when Pulumi.yaml drifted from the models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config.project_file import project_file  # noqa: E402

PROJECT_FILE = ROOT / "Pulumi.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when Pulumi.yaml differs from the models")
    args = parser.parse_args(argv)
    current = PROJECT_FILE.read_text()
    wanted = project_file(current)
    if args.check:
        if current != wanted:
            print("Pulumi.yaml's config block drifted from components/config/: run `python -m tools.project_config`")
            return 1
        return 0
    PROJECT_FILE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
