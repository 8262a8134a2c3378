"""``python -m cltoolkit``: run a method on a stream from the command line, or check datasets.

Examples::

    python -m cltoolkit run finetune --dataset digits --stream permuted --json r.json
    python -m cltoolkit run ewc --stream split --seed 1
    python -m cltoolkit compare --stream permuted --seeds 0,1,2 --json compare.json
    python -m cltoolkit scorecard --markdown docs/scorecard.md
    python -m cltoolkit data list

Bad input (unknown names, impossible parameters, missing data, no GPU) ends
with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from .config import DEVICES, SCALES, cache_dir, data_dir, get_device, get_scale, progress_enabled
from .data.sources import DATASETS
from .data.streams import STREAM_KINDS
from .errors import CltkError, ConfigError
from .files import atomic_write, check_writable_file
from .validate import Float, check_seed

# method -> (module that runs it, default stream)
METHODS = {
    "finetune": ("cltoolkit.experiments.forgetting", "permuted"),
    "ewc": ("cltoolkit.experiments.forgetting", "permuted"),
    "si": ("cltoolkit.experiments.forgetting", "permuted"),
    "joint": ("cltoolkit.experiments.forgetting", "permuted"),
    "piggyback": ("cltoolkit.experiments.piggyback", "split"),
    "roaming": ("cltoolkit.experiments.roaming", "attributes"),
    "hypernet": ("cltoolkit.experiments.hypernet", "permuted"),
}

DESCRIPTION = """\
cltoolkit: continual and multi-task learning, from scratch.

Commands:
  run METHOD   learn a task stream with a method and print the accuracy matrix
               (methods: finetune, ewc, si, joint, piggyback, roaming, hypernet)
  compare      every sequential method on the same stream, several seeds: one table
  scorecard    test the papers' claims at this scale: reproduces or not, and why
  data list    show which real datasets are downloaded under $CLTK_DATA
  data check   verify downloaded datasets against their checksums
  info         versions, device, scale and paths

Everything runs offline on scikit-learn's embedded 8x8 digits by default.
Environment: CLTK_SCALE (smoke|default|paper), CLTK_DEVICE (auto|cpu|cuda|mps),
CLTK_DATA (datasets), CLTK_CACHE (checkpoints). Flags override them.
"""

RUN_EPILOG = """\
streams:
  split      5 tasks x 2 classes, one head per task (task-incremental)
  permuted   N tasks, each a fixed pixel permutation, shared head (domain-incremental)
  rotated    N tasks, each a fixed rotation angle, shared head (domain-incremental)
  attributes multi-task set of binary attributes (roaming only)
  (piggyback: the backbone is first pretrained on a base task, digits 0-4; its
  split stream then adds digits 5-9, rotated, inverted and permuted digits)

scales:
  smoke      seconds: a few epochs on 200 examples per task (CI)
  default    the embedded digits, CPU, about a minute
  paper      the papers' sizes on real datasets (download them first; GPU)

output: a readable table on stdout; --json PATH writes method, dataset, stream,
scale, seed, tasks, seconds, acc_matrix (R[i][j] = accuracy on task j after
training task i), avg_acc, bwt, forgetting, bytes_per_task, params.

examples:
  python -m cltoolkit run finetune --dataset digits --json r.json
  python -m cltoolkit run ewc --stream permuted --tasks 5 --ewc-lambda 1000
  CLTK_DEVICE=cuda python -m cltoolkit run si --scale paper --dataset mnist
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _number(rule: Float):
    """An argparse type: a finite float checked by ``rule`` (nan, inf and out-of-range values are refused)."""

    rule_text = f" {rule.describe()}" if rule.describe() else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number{rule_text}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number{rule_text}, got {text!r}")
        try:
            return rule("value", value)
        except ConfigError:
            raise argparse.ArgumentTypeError(f"expected a number{rule_text}, got {text}") from None

    return parse


def _seed(text: str) -> int:
    try:
        return check_seed(int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64 - 1], got {text!r}") from None


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 10,10, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like 10,10, got {text!r}")
    return values


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(check_seed(int(v)) for v in text.split(","))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seeds (integers in [0, 2**64 - 1]) like 0,1,2, got {text!r}"
        ) from None
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct seeds like 0,1,2 (a repeated seed repeats a run), got {text!r}"
        )
    return values


def _name_list(text: str) -> list[str]:
    """``a,b c`` -> ["a", "b", "c"] (commas or spaces); empty names are refused later with the valid ones."""
    return [part.strip() for part in text.split(",")]


COMPARE_EPILOG = """\
methods: finetune, ewc, si, joint (the upper bound), piggyback, hypernet (task id given),
hypernet_ent (the same hypernetwork, task inferred by entropy: no task id)

protocol: for each seed one stream is built and every method learns exactly it (same tasks, same
training examples, same test sets), with the same epochs per task and batch size. Piggyback's
backbone is fine-tuning's network after the first task; it learns masks for the later tasks.
Runs are cached in $CLTK_CACHE: a second identical comparison only reads them back.

output: a table (mean +- sample std over seeds); --json PATH writes stream, scale, seeds and, per
method, avg_acc, avg_acc_std, bwt, forgetting, bytes_per_task, needs_task_id, seconds (and the
accuracy matrices).

examples:
  python -m cltoolkit compare --stream permuted --seeds 0,1,2 --json permuted.json
  python -m cltoolkit compare --stream split --methods finetune hypernet hypernet_ent --scale smoke
"""


SCORECARD_EPILOG = """\
verdicts: reproduces / does not reproduce at this scale / not testable here (with why).
Each claim's test and criterion are in the table; the runs are shared between claims and cached
in $CLTK_CACHE (a second scorecard only reads them back). At default scale on 2 CPU cores a full
scorecard takes tens of minutes; --claims runs a subset (the others are listed as not run).

examples:
  python -m cltoolkit scorecard --list
  python -m cltoolkit scorecard --markdown docs/scorecard.md --json scorecard.json
  python -m cltoolkit scorecard --claims pb-no-forgetting mr-lemma1 --scale smoke
"""


def _add_scale(parser) -> None:
    parser.add_argument("--scale", default=None, metavar="SCALE", help=f"one of: {', '.join(SCALES)} ($CLTK_SCALE)")


def _add_device(parser) -> None:
    parser.add_argument("--device", default=None, metavar="DEV", help=f"one of: {', '.join(DEVICES)} ($CLTK_DEVICE)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cltoolkit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="{run,compare,scorecard,data,info}")

    run = sub.add_parser(
        "run",
        help="learn a task stream with a method",
        description="Learn a task stream with METHOD and report the accuracy matrix and its metrics.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("method", choices=list(METHODS), metavar="METHOD", help=f"one of: {', '.join(METHODS)}")
    common = run.add_argument_group("common options")
    common.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help=f"one of: {', '.join(DATASETS)} (default: digits; mnist/celeba at paper scale)",
    )
    common.add_argument(
        "--stream", default=None, metavar="KIND", help=f"one of: {', '.join(STREAM_KINDS)} (default depends on METHOD)"
    )
    common.add_argument("--tasks", type=_positive_int, default=None, metavar="N", help="number of tasks")
    _add_scale(common)
    common.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default 0)")
    _add_device(common)
    common.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON to PATH")
    common.add_argument("--epochs", type=_positive_int, default=None, metavar="N", help="epochs per task")
    common.add_argument("--lr", type=_number(Float(0, low_open=True)), default=None, metavar="LR", help="learning rate")
    common.add_argument("--data-root", default=None, metavar="DIR", help="where real datasets live ($CLTK_DATA)")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    base = run.add_argument_group("ewc / si")
    base.add_argument("--ewc-lambda", type=_number(Float(0)), default=None, metavar="L", help="EWC penalty strength")
    base.add_argument("--si-c", type=_number(Float(0)), default=None, metavar="C", help="SI penalty strength")

    pb = run.add_argument_group("piggyback")
    pb.add_argument(
        "--threshold",
        type=_number(Float()),
        default=None,
        metavar="TAU",
        help="mask threshold tau (5e-3)",
    )

    mr = run.add_argument_group("roaming")
    mr.add_argument(
        "--sharing-ratio",
        type=_number(Float(0, 1, low_open=True)),
        default=None,
        metavar="P",
        help="sharing ratio p in (0, 1]: each task's share of each layer's filters (1 = full sharing)",
    )
    mr.add_argument(
        "--update-interval", type=_positive_int, default=None, metavar="D", help="iterations between updates"
    )
    mr.add_argument(
        "--selection",
        choices=["random", "cosine", "cosine_abs"],
        default=None,
        help="how units roam: random (the paper's default), cosine similarity, or |cosine| (the authors' code)",
    )
    mr.add_argument("--no-roaming", action="store_true", help="fixed partitions (task routing)")
    mr.add_argument(
        "--step-per-task",
        action="store_true",
        help="one optimiser step per task per batch (the authors' code) instead of one on the summed losses",
    )

    hn = run.add_argument_group("hypernet")
    hn.add_argument("--beta", type=_number(Float(0)), default=None, metavar="B", help="output-regulariser strength")
    hn.add_argument(
        "--chunk-size", type=_positive_int, default=None, metavar="C", help="chunked hypernetwork chunk size"
    )
    hn.add_argument("--emb-dim", type=_positive_int, default=None, metavar="E", help="task-embedding size")
    hn.add_argument(
        "--hnet-hidden",
        type=_int_list,
        default=None,
        metavar="H,H",
        help="hidden sizes of the hypernetwork, e.g. 10,10 (with --chunk-size: compression below 1)",
    )
    hn.add_argument("--task-inference", action="store_true", help="infer the task by predictive entropy")

    cmp = sub.add_parser(
        "compare",
        help="every sequential method on the same stream, several seeds",
        description="Run the sequential methods on the same task stream for several seeds and print one table.",
        epilog=COMPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmp.add_argument("--stream", default="permuted", metavar="KIND", help="permuted (default) or split")
    cmp.add_argument("--seeds", type=_seed_list, default=(0, 1, 2), metavar="S,S,S", help="seeds (default 0,1,2)")
    cmp.add_argument(
        "--methods",
        type=_name_list,
        nargs="+",
        default=None,
        metavar="NAME",
        help="methods to run, space- or comma-separated (default: all seven)",
    )
    _add_scale(cmp)
    _add_device(cmp)
    cmp.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON to PATH")
    cmp.add_argument("--data-root", default=None, metavar="DIR", help="where real datasets live ($CLTK_DATA)")
    cmp.add_argument("--quiet", action="store_true", help="no progress bar")

    card = sub.add_parser(
        "scorecard",
        help="test the papers' claims at this scale",
        description="Run every paper claim the kit can test and write a table with a verdict for each.",
        epilog=SCORECARD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    card.add_argument(
        "--claims",
        type=_name_list,
        nargs="+",
        default=None,
        metavar="ID",
        help="claim ids to run, space- or comma-separated (default: all; see --list)",
    )
    card.add_argument("--list", action="store_true", help="list the claims and exit")
    _add_scale(card)
    card.add_argument("--seeds", type=_seed_list, default=(0, 1, 2), metavar="S,S,S", help="seeds (default 0,1,2)")
    _add_device(card)
    card.add_argument("--json", default=None, metavar="PATH", help="also write the scorecard as JSON to PATH")
    card.add_argument("--markdown", default=None, metavar="PATH", help="write the markdown table to PATH")
    card.add_argument("--quiet", action="store_true", help="no progress bar")

    data = sub.add_parser(
        "data",
        help="list or verify real datasets",
        description="Real datasets live under $CLTK_DATA; fetch them with `python data_scripts/download.py NAME`.",
    )
    data.add_argument("action", choices=["list", "check"], help="list: what is present; check: verify checksums")
    data.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: all)")
    data.add_argument("--root", default=None, metavar="DIR", help="dataset directory (default: $CLTK_DATA)")

    sub.add_parser("info", help="versions, device, scale and paths", description="Print the environment.")
    return parser


# ----------------------------------------------------------------------------------------------


def resolve_run_args(args: argparse.Namespace) -> argparse.Namespace:
    """Validate names and fill the defaults that depend on scale and method (raises ConfigError)."""
    args.scale = get_scale(args.scale)
    args.device = str(get_device(args.device))
    module, default_stream = METHODS[args.method]
    args.stream = (args.stream or default_stream).lower()
    if args.stream not in STREAM_KINDS:
        raise ConfigError(f"unknown stream {args.stream!r}; choose one of: {', '.join(STREAM_KINDS)}")
    if args.dataset is None:
        if args.scale == "paper":
            args.dataset = "celeba" if args.stream == "attributes" else "mnist"
        else:
            args.dataset = "digits"
    args.dataset = args.dataset.lower().replace("-", "_")
    if args.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {args.dataset!r}; choose one of: {', '.join(DATASETS)}")
    if args.json is not None:
        check_writable_file(args.json, "--json file")
    # read the environment now, so a bad variable is reported before any training, not after
    cache_dir()
    progress_enabled(args.scale)
    if args.dataset != "digits" and args.data_root is None:
        data_dir()
    return args


def run_method(args: argparse.Namespace) -> dict:
    """Dispatch ``run METHOD`` to the module that implements it and add the contract's common fields."""
    args = resolve_run_args(args)
    module_name, _ = METHODS[args.method]
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"method {args.method!r} is not available in this version of cltoolkit") from None
        raise
    result = module.run_from_args(args)
    result.update(
        method=args.method,
        dataset=args.dataset,
        stream=args.stream,
        scale=args.scale,
        seed=args.seed,
        device=args.device,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
    )
    result.setdefault("seconds", round(time.perf_counter() - start, 3))
    return result


def format_result(result: dict) -> str:
    """A readable table: the accuracy matrix (or per-task F-scores) and the summary metrics."""
    lines = [
        f"{result['method']} on {result['dataset']} / {result['stream']} "
        f"(scale {result['scale']}, seed {result['seed']}, device {result.get('device', '?')}, "
        f"threads {result.get('threads', '?')})",
    ]
    tasks = [str(t) for t in result.get("tasks", [])]
    if "acc_matrix" in result:
        width = max([8] + [len(t) + 1 for t in tasks])
        lines.append("")
        lines.append("accuracy after training on (rows) / tested on (columns)")
        lines.append(" " * (width + 1) + "".join(t.rjust(width) for t in tasks))
        for name, row in zip(tasks, result["acc_matrix"]):
            lines.append(name.rjust(width) + " " + "".join(f"{v:{width}.3f}" for v in row))
        lines.append("")
        lines.append(
            f"average accuracy {result['avg_acc']:.3f}   backward transfer {result['bwt']:+.3f}   "
            f"forgetting {result['forgetting']:.3f}"
        )
    if "per_task_f1" in result:
        lines.append("")
        lines.append(f"{'task':>12} {'F-score':>8} {'accuracy':>9}")
        for name in tasks:
            f1 = result["per_task_f1"].get(name, float("nan"))
            acc = result.get("per_task_acc", {}).get(name, float("nan"))
            lines.append(f"{name:>12} {f1:8.3f} {acc:9.3f}")
        lines.append(f"{'mean':>12} {result['mean_f1']:8.3f}")
    extras = []
    if "params" in result:
        extras.append(f"parameters {result['params']:,}")
    if "bytes_per_task" in result:
        extras.append(f"extra bytes per task {result['bytes_per_task']:,}")
    if "compression_ratio" in result:
        extras.append(f"compression ratio {result['compression_ratio']:.3f}")
    extras.append(f"{result['seconds']:.1f} s")
    lines.append("   ".join(extras))
    return "\n".join(lines)


def strict_json(value):
    """``value`` with every non-finite float replaced by None, so the JSON is strict (no NaN / Infinity)."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch arrays and scalars
        return strict_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(result: dict) -> str:
    return json.dumps(strict_json(result), indent=2, allow_nan=False, default=str) + "\n"


def write_json(result: dict, path: str | Path) -> Path:
    """Write ``result`` as strict JSON atomically (a half-written file never appears under ``path``)."""
    text = dumps(result)
    return atomic_write(path, lambda f: f.write(text), binary=False)


def save_results(result: dict, path: str) -> int:
    """Write the --json file; if that fails now (after the run), keep the results somewhere safe and say where."""
    try:
        write_json(result, path)
        print(f"wrote {path}")
        return 0
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"cltoolkit-{result.get('method', 'run')}-{os.getpid()}.json"
        try:
            write_json(result, fallback)
            where = f"saved them to {fallback} instead"
        except OSError:
            print(dumps(result))
            where = "printed them above"
        print(f"cltoolkit: error: could not write --json {path} ({exc.strerror or exc}); {where}", file=sys.stderr)
        return 1


def compare_command(args: argparse.Namespace) -> int:
    """``compare``: validate everything (the --json target first), run, print the table, write the JSON."""
    if args.json is not None:
        check_writable_file(args.json, "--json file")
    from .experiments import compare

    args.stream = compare.check_stream_kind(args.stream)
    if args.methods is not None:
        args.methods = compare.check_methods([name for group in args.methods for name in group])
    args.scale = get_scale(args.scale)
    args.device = str(get_device(args.device))
    cache_dir()
    progress_enabled(args.scale)
    result = compare.run_from_args(args)
    print(compare.format_table(result))
    if args.json is not None:
        return save_results(result, args.json)
    return 0


def scorecard_command(args: argparse.Namespace) -> int:
    """``scorecard``: check the output paths and every name first, run the claims, print, write the files."""
    from .experiments import scorecard

    if args.list:
        for claim in scorecard.CLAIMS:
            print(f"{claim.id:<22} {claim.paper.split(' (')[0]:<16} {claim.claim}")
        return 0
    for flag, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path is not None:
            check_writable_file(path, f"{flag} file")
    if (
        args.json is not None
        and args.markdown is not None
        and Path(args.json).resolve() == Path(args.markdown).resolve()
    ):
        raise ConfigError(f"--json and --markdown both name {args.json}; give two different files")
    if args.claims is not None:
        args.claims = scorecard.check_claims([name for group in args.claims for name in group])
    args.scale = get_scale(args.scale)
    args.device = str(get_device(args.device))
    cache_dir()
    progress_enabled(args.scale)
    card = scorecard.run_from_args(args)
    print(scorecard.format_card(card))
    command = f"python -m cltoolkit scorecard --scale {args.scale} --seeds {','.join(map(str, args.seeds))}"
    if args.claims is not None:
        command += " --claims " + " ".join(args.claims)
    status = 0
    if args.markdown is not None:
        text = scorecard.to_markdown(card, command + f" --markdown {args.markdown}")
        try:
            atomic_write(args.markdown, lambda f: f.write(text), binary=False)
            print(f"wrote {args.markdown}")
        except OSError as exc:
            print(text)
            print(
                f"cltoolkit: error: could not write --markdown {args.markdown} ({exc.strerror or exc})", file=sys.stderr
            )
            status = 1
    if args.json is not None:
        status = max(status, save_results(card, args.json))
    return status


def data_command(args: argparse.Namespace) -> int:
    from .data import fetch

    root = Path(args.root).expanduser() if args.root else data_dir()
    if args.action == "list":
        print(fetch.format_status(root))
        return 0
    names = args.names or list(fetch.REAL_DATASETS)
    failures = 0
    for name in names:
        ok, message = fetch.check(name, root)
        print(f"{name:>14}: {message}")
        failures += not ok
    return 1 if failures else 0


def info_command() -> int:
    from .config import describe_environment

    for key, value in describe_environment().items():
        print(f"{key:>14}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.version:
            from . import __version__

            print(f"cltoolkit {__version__}")
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "info":
            return info_command()
        if args.command == "data":
            return data_command(args)
        if args.command == "compare":
            return compare_command(args)
        if args.command == "scorecard":
            return scorecard_command(args)
        result = run_method(args)
        print(format_result(result))
        if args.json is not None:
            return save_results(result, args.json)
        return 0
    except CltkError as exc:
        print(f"cltoolkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted()
        return 130


def interrupted() -> None:
    """Say "interrupted" on a line of its own (a progress bar may have left the cursor mid-line)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K\n")
    print("cltoolkit: interrupted", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
