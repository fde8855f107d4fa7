"""The ``rnnlab`` command: argument parsing only; the experiments live in ``rnnlab.tasks``."""

from __future__ import annotations

import argparse
import inspect
import signal
import sys
from collections.abc import Sequence

import torch

from .tasks import GROUPS, experiments
from .tasks.options import add_arguments, from_arguments


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent-network experiments; each writes a run directory with "
        "config.json, histories, metrics.json, plots and the trained models.",
    )
    sub = main.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for experiment in experiments().values():
        module_doc = inspect.getmodule(experiment.run).__doc__ or ""
        group, _, command = experiment.name.partition(" ")
        if command and group not in groups:  # a group of commands: rnnlab charrnn train|sample
            head = sub.add_parser(
                group, help=GROUPS[group], description=module_doc, formatter_class=argparse.RawDescriptionHelpFormatter
            )
            groups[group] = head.add_subparsers(dest="command", metavar="COMMAND", required=True)
        p = (groups[group] if command else sub).add_parser(
            command or group,
            help=experiment.summary,
            description=module_doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p, experiment.config)
        if experiment.writes_run_dir:
            p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<experiment>-<timestamp>)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        faster = "one" if experiment.threads == 1 else str(experiment.threads)
        p.add_argument(
            "--threads",
            type=int,
            default=experiment.threads,
            metavar="N",
            help=f"PyTorch CPU threads; {faster} is fastest for this workload on two cores "
            f"(0: PyTorch's default) (default: {experiment.threads})",
        )
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    name = f"{args.experiment} {args.command}" if getattr(args, "command", None) else args.experiment
    experiment = experiments()[name]
    # A terminated run unwinds like an interrupted one: its run directory is kept as .incomplete.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        experiment.run(from_arguments(experiment.config, args), out=getattr(args, "out", None), quiet=args.quiet)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"rnnlab {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
