#!/usr/bin/env python
"""Download the real datasets into $CLTK_DATA (or --root), check their MD5s and extract them.

A thin command line over :mod:`cltoolkit.data.fetch`; see data_scripts/README.md.
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

from cltoolkit.config import data_dir
from cltoolkit.errors import CltkError, ConfigError

EPILOG = """\
examples:
  python data_scripts/download.py mnist fashion_mnist
  python data_scripts/download.py cifar10 --root /data/cltk
  python data_scripts/download.py --list

Each file is downloaded to a hidden .part file, checked against its published
MD5 and only then renamed into place; archives are extracted into a temporary
folder and renamed into place. An interrupted run leaves nothing that looks
complete: just run the command again. Files already in place are skipped
(--force downloads and extracts them again).

CelebA is hosted on Google Drive: downloading it needs `pip install gdown`;
if Google Drive refuses (daily quota), download img_align_celeba.zip and the
five lists (list_attr_celeba.txt, identity_CelebA.txt, list_bbox_celeba.txt,
list_landmarks_align_celeba.txt, list_eval_partition.txt) by hand from
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into ROOT/celeba/ and run
`python data_scripts/download.py celeba` to check and extract them.

Exit status: 0 done, 1 a download or check failed, 2 bad input (unknown
dataset, a root that is a file), 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python data_scripts/download.py",
        description="Download, check (MD5) and extract real datasets for cltoolkit. "
        f"Datasets: {', '.join(fetch.REAL_DATASETS)}.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="DATASET", help=f"one or more of: {', '.join(fetch.REAL_DATASETS)}")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"folder that holds the datasets (default: $CLTK_DATA, now {data_dir()})",
    )
    parser.add_argument("--force", action="store_true", help="download and extract again even if the files are there")
    parser.add_argument("--list", action="store_true", help="show which datasets are present or missing, then exit")
    parser.add_argument(
        "--base-url", default=None, help="download FILENAME from BASE_URL/FILENAME instead of the official mirrors"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or notes")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.list:
            print(fetch.format_status(fetch.status(args.root, args.names or None)))
            return 0
        if not args.names:
            parser.print_usage(sys.stderr)
            print(f"error: name at least one dataset ({', '.join(fetch.REAL_DATASETS)}) or use --list", file=sys.stderr)
            return 2
        specs = [fetch.spec(n) for n in args.names]  # reject a bad name (or root) before downloading anything
        fetch.resolve_root(args.root)
        log = None if args.quiet else print
        for spec in specs:
            st = fetch.download(
                spec.name, args.root, force=args.force, progress=not args.quiet, base_url=args.base_url, log=log
            )
            if not st["ready"]:
                raise CltkError(
                    f"{spec.title} is still incomplete: missing {', '.join(st['missing'])}; run again with --force"
                )
            if not args.quiet:
                print(f"{spec.name}: ready in {st['root']}")
    except ConfigError as exc:  # bad input, as everywhere else in the kit
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (CltkError, OSError) as exc:  # a download, checksum or disk failure
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left in place; run the same command again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
