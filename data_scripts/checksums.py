#!/usr/bin/env python
"""Print the published MD5 checksums of the real datasets and check the files on disk against them.

The checksums and URLs are torchvision's (its dataset classes; see
cltoolkit/data/fetch.py); this script shows them and recomputes the MD5 of what
is present under $CLTK_DATA (or --root). Exit status 1 if a present file does
not match, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from cltoolkit.data import fetch
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from cltoolkit.data import fetch

from cltoolkit.errors import CltkError, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python data_scripts/checksums.py",
        description="Check downloaded dataset files against their published MD5 checksums.",
    )
    parser.add_argument("names", nargs="*", metavar="DATASET", help=f"default: all of {', '.join(fetch.REAL_DATASETS)}")
    parser.add_argument("--root", type=Path, default=None, help="folder that holds the datasets (default: $CLTK_DATA)")
    parser.add_argument("--urls", action="store_true", help="also print where each file is downloaded from")
    args = parser.parse_args(argv)
    bad = 0
    try:
        for name in args.names or fetch.REAL_DATASETS:
            spec = fetch.spec(name)
            for check in fetch.verify(spec.name, args.root):
                bad += check.status == "mismatch"
                got = f" (got {check.actual})" if check.status == "mismatch" else ""
                print(f"{spec.name:<14} {check.status:<8} {check.expected}  {check.path}{got}")
            if args.urls:
                for f in spec.files:
                    where = ", ".join(f.urls) if f.urls else f"Google Drive id {f.gdrive_id} ({spec.homepage})"
                    print(f"{'':<14} {'from':<8} {f.name}: {where}")
    except CltkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    if bad:
        print(f"{bad} file(s) do not match: download them again with --force", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
