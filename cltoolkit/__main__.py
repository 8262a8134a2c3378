"""``python -m cltoolkit``. Ctrl-C while torch is still importing ends as quietly as Ctrl-C later on."""

import sys

try:
    from .cli import interrupted, main
except KeyboardInterrupt:  # pragma: no cover - depends on when the key is pressed
    sys.stderr.write("\ncltoolkit: interrupted\n")
    sys.exit(130)

try:
    sys.exit(main())
except KeyboardInterrupt:  # pragma: no cover - main() handles it; this covers argparse and teardown
    interrupted()
    sys.exit(130)
