"""Write ``docs/bad_inputs.md``: every hostile command line of the test suite and what the user sees.

The cases live in ``tests/hostile_cases.py`` (the tests run the same list); this script runs each
one in-process and records the line it prints. ``tests/test_hostile_cli.py`` fails when the page is
stale. Usage (from the repository root)::

    python scripts/bad_inputs_table.py           # rewrite docs/bad_inputs.md
    python scripts/bad_inputs_table.py --check   # exit 1 if it would change
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "bad_inputs.md"
HEADER = """# Bad input and what you see

Every row is a test (`tests/hostile_cases.py`, run by `tests/test_hostile_cli.py`): the command
exits with status 2, prints the one line shown on stderr, never a traceback, and writes nothing.
`TMP` stands for a directory and `FILE` for a regular file. Regenerate with
`python scripts/bad_inputs_table.py`.

The Python API refuses the same values with `cltoolkit.errors.ConfigError` (a `ValueError`)
naming the value: e.g. `default_config(lr=float("nan"))`, `RoamingPartition("ten", 3, 0.5)`,
`seed_everything(2**64)`.

| command | environment | what you see (stderr) |
|---|---|---|
"""


def run(argv: list[str], env: dict[str, str], tmp: Path, afile: Path) -> str:
    from cltoolkit import cli

    subst = {"{tmp}": str(tmp), "{file}": str(afile)}

    def fill(text: str) -> str:
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: fill(v) for k, v in env.items()})
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                cli.main([fill(a) for a in argv] + ["--quiet"] * (argv[0] == "run"))
            except SystemExit:
                pass
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    line = err.getvalue().strip().splitlines()[0] if err.getvalue().strip() else "(nothing)"
    line = line.replace(str(afile), "FILE").replace(str(tmp), "TMP")
    # what is free depends on the machine: show the shape of the message, not this machine's numbers
    line = re.sub(r"half of the [\d.]+ GiB available; at most [\d,]+", "half of the M GiB available; at most N", line)
    return re.sub(r"half of the [\d.]+ GiB available", "half of the M GiB available", line)


def render() -> str:
    sys.path.insert(0, str(REPO / "tests"))
    from hostile_cases import CASES

    os.environ.setdefault("CLTK_SCALE", "smoke")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        afile = tmp_path / "a-file"
        afile.write_text("x\n")
        os.environ["CLTK_CACHE"] = str(tmp_path / "cache")
        os.environ["CLTK_DATA"] = str(tmp_path / "data")
        for argv, env, _ in CASES:
            shown = " ".join(a if a else "''" for a in argv).replace("{tmp}", "TMP").replace("{file}", "FILE")
            env_text = " ".join(f"{k}={v}" for k, v in env.items()).replace("{file}", "FILE")
            line = run(argv, env, tmp_path, afile)
            rows.append(f"| `python -m cltoolkit {shown}` | {f'`{env_text}`' if env_text else ''} | `{line}` |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/bad_inputs.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python scripts/bad_inputs_table.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(REPO)} ({text.count(chr(10)) - HEADER.count(chr(10))} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
