"""Bad input a hostile (or tired) user gives the command line, and the one line they must see.

Each case is ``(argv, environment, text the error line must contain)``. ``tests/test_hostile_cli.py``
runs every case and checks: exit status 2, exactly one line on stderr containing the text, no
traceback, no JSON written. ``python scripts/bad_inputs_table.py`` renders the same cases, with
the line each one actually prints, into ``docs/bad_inputs.md`` (a test keeps it in sync).
"""

from __future__ import annotations

NAN, INF = "nan", "inf"

CASES: list[tuple[list[str], dict[str, str], str]] = [
    # unknown names
    (["run", "dropout"], {}, "invalid choice"),
    (["run", "finetune", "--dataset", "imagenet"], {}, "unknown dataset 'imagenet'"),
    (["run", "finetune", "--stream", "shuffled"], {}, "unknown stream 'shuffled'"),
    (["run", "finetune", "--scale", "huge"], {}, "unknown scale 'huge'"),
    (["run", "finetune", "--device", "tpu"], {}, "unknown device 'tpu'"),
    (["run", "finetune"], {"CLTK_SCALE": "large"}, "unknown CLTK_SCALE 'large'"),
    (["run", "finetune"], {"CLTK_DEVICE": "gpu"}, "unknown CLTK_DEVICE 'gpu'"),
    (["run", "roaming", "--selection", "greedy"], {}, "invalid choice"),
    (["run", "finetune", "--stream", "attributes"], {}, "use --stream split, permuted or rotated"),
    (["run", "roaming", "--stream", "permuted"], {}, "use --stream attributes"),
    # floats: finite and in range
    (["run", "finetune", "--lr", NAN], {}, "--lr: expected a finite number > 0"),
    (["run", "finetune", "--lr", INF], {}, "--lr: expected a finite number > 0"),
    (["run", "finetune", "--lr=-0.1"], {}, "--lr: expected a number > 0"),
    (["run", "finetune", "--lr", "0"], {}, "--lr: expected a number > 0"),
    (["run", "finetune", "--lr", "fast"], {}, "--lr: expected a number > 0, got 'fast'"),
    (["run", "ewc", "--ewc-lambda", NAN], {}, "--ewc-lambda: expected a finite number >= 0"),
    (["run", "ewc", "--ewc-lambda", INF], {}, "--ewc-lambda: expected a finite number >= 0"),
    (["run", "ewc", "--ewc-lambda=-5"], {}, "--ewc-lambda: expected a number >= 0"),
    (["run", "si", "--si-c", NAN], {}, "--si-c: expected a finite number >= 0"),
    (["run", "si", "--si-c=-inf"], {}, "--si-c: expected a finite number >= 0"),
    (["run", "hypernet", "--beta", NAN], {}, "--beta: expected a finite number >= 0"),
    (["run", "hypernet", "--beta", INF], {}, "--beta: expected a finite number >= 0"),
    (["run", "piggyback", "--lr", INF], {}, "--lr: expected a finite number > 0"),
    (["run", "piggyback", "--threshold", NAN], {}, "--threshold: expected a finite number"),
    (["run", "roaming", "--sharing-ratio", "1.5"], {}, "--sharing-ratio: expected a number in (0, 1]"),
    (["run", "roaming", "--sharing-ratio", NAN], {}, "--sharing-ratio: expected a finite number in (0, 1]"),
    (["run", "roaming", "--sharing-ratio", "0"], {}, "--sharing-ratio: expected a number in (0, 1]"),
    # integers and sizes
    (["run", "finetune", "--epochs", "0"], {}, "--epochs: expected a positive integer"),
    (["run", "finetune", "--epochs", "2.5"], {}, "--epochs: expected a positive integer"),
    (["run", "finetune", "--tasks", "-1"], {}, "--tasks: expected a positive integer"),
    (["run", "finetune", "--tasks", "100000"], {}, "tasks fit"),
    (["run", "finetune", "--stream", "split", "--tasks", "6"], {}, "at most 5 tasks"),
    (["run", "finetune", "--seed", "-1"], {}, "--seed: expected an integer in [0, 2**64 - 1]"),
    (["run", "finetune", "--seed", str(2**64)], {}, "--seed: expected an integer in [0, 2**64 - 1]"),
    (["run", "roaming", "--update-interval", "0"], {}, "--update-interval: expected a positive integer"),
    (["run", "hypernet", "--chunk-size", "0"], {}, "--chunk-size: expected a positive integer"),
    (["run", "hypernet", "--emb-dim", "-2"], {}, "--emb-dim: expected a positive integer"),
    (["run", "hypernet", "--hnet-hidden", "10,-1"], {}, "--hnet-hidden: expected comma-separated positive integers"),
    (["run", "hypernet", "--chunk-size", "1000000000"], {}, "GiB of memory, more than half of the"),
    (["run", "hypernet", "--emb-dim", "100000000"], {}, "GiB of memory, more than half of the"),
    (["run", "hypernet", "--hnet-hidden", "100000,100000"], {}, "GiB of memory, more than half of the"),
    # where results go
    (["run", "finetune", "--json", ""], {}, "the --json file name is empty"),
    (["run", "finetune", "--json", "{tmp}"], {}, "is a directory"),
    (["run", "finetune", "--json", "/dev/null"], {}, "not a regular file"),
    (["run", "finetune", "--json", "{tmp}/no/such/dir/r.json"], {}, "does not exist"),
    (["run", "finetune", "--json", "{file}/r.json"], {}, "is not a directory"),
    (["run", "finetune", "--dataset", "mnist", "--data-root", "{file}"], {}, "is a file"),
    (["data", "check", "--root", "{file}"], {}, "is a file"),
    (["data", "list", "--root", "{file}/x"], {}, "which is a file"),
    # environment
    (["run", "finetune"], {"CLTK_PROGRESS": "maybe"}, "unknown CLTK_PROGRESS 'maybe'"),
    (["run", "finetune"], {"CLTK_CACHE": "{file}"}, "CLTK_CACHE is"),
    (["run", "finetune", "--dataset", "mnist"], {"CLTK_DATA": "{file}"}, "CLTK_DATA is"),
    # compare and scorecard
    (["compare", "--methods", "finetune", "dropout"], {}, "unknown method 'dropout' for compare"),
    (["compare", "--methods", "ewc,ewc"], {}, "lists a method twice"),
    (["compare", "--seeds", "0,0"], {}, "--seeds: expected distinct seeds"),
    (["compare", "--seeds", "0,x"], {}, "--seeds: expected comma-separated seeds"),
    (["compare", "--seeds", "-1"], {}, "--seeds: expected comma-separated seeds"),
    (["compare", "--seeds", str(2**64)], {}, "--seeds: expected comma-separated seeds"),
    (["compare", "--stream", "rotated"], {}, "unknown stream 'rotated' for compare"),
    (["compare", "--scale", "huge"], {}, "unknown scale 'huge'"),
    (["compare", "--device", "tpu"], {}, "unknown device 'tpu'"),
    (["compare", "--json", "{tmp}"], {}, "is a directory"),
    (["compare"], {"CLTK_CACHE": "{file}"}, "CLTK_CACHE is"),
    (["scorecard", "--claims", "pb-no-forgetting", "nope"], {}, "unknown claim 'nope'"),
    (["scorecard", "--seeds", "1,1"], {}, "--seeds: expected distinct seeds"),
    (["scorecard", "--markdown", "{tmp}"], {}, "is a directory"),
    (["scorecard", "--json", "{tmp}/no/such/dir/card.json"], {}, "does not exist"),
    (["scorecard", "--json", "{tmp}/card.md", "--markdown", "{tmp}/card.md"], {}, "two different files"),
]
