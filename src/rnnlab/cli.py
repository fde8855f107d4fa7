"""The ``rnnlab`` command: argument parsing only; the experiments live in ``rnnlab.tasks``."""

from __future__ import annotations

import argparse
import inspect
import signal
import sys
from collections.abc import Sequence

import torch

from .tasks import experiments
from .tasks.options import add_arguments, from_arguments


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent-network experiments; each writes a run directory with "
        "config.json, histories, metrics.json, plots, the trained models and report.html.",
    )
    sub = main.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for experiment in experiments().values():
        module_doc = inspect.getmodule(experiment.run).__doc__ or ""
        p = sub.add_parser(
            experiment.name,
            help=experiment.summary,
            description=module_doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p, experiment.config)
        p.add_argument("--out", metavar="DIR", help=experiment.out_help)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument(
            "--threads",
            type=int,
            default=1,
            metavar="N",
            help="PyTorch CPU threads; one is fastest for these small recurrent models "
            "(0: PyTorch's default) (default: 1)",
        )
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    experiment = experiments()[args.experiment]
    # A terminated run unwinds like an interrupted one: its run directory is kept as .incomplete.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        experiment.run(from_arguments(experiment.config, args), out=args.out, quiet=args.quiet)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"rnnlab {args.experiment}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
