"""The ``rnnlab`` command: argument parsing only; the experiments live in ``rnnlab.tasks``."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .tasks import GROUPS, experiments
from .tasks.interrupts import Stops, Terminated
from .tasks.listing import compare, runs_table
from .tasks.options import add_arguments, check_threads, from_arguments, max_threads, validate
from .tasks.seeds import TABLES, SeedLost, jobs_for, parse_seeds, run_seeds
from .training.distributed import launch, launched_by_torchrun


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent-network experiments; each writes a run directory with "
        "config.json, histories, metrics.json, plots, the trained models and report.html.",
    )
    sub = main.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    groups: dict[str, Any] = {}  # argparse's sub-parser actions of the command groups
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
            description=experiment.description or module_doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p, experiment.config)
        if experiment.out_help is not None:
            p.add_argument("--out", metavar="DIR", help=experiment.out_help)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if experiment.trains:
            p.add_argument(
                "--nproc",
                type=int,
                default=1,
                metavar="N",
                help="train with N data-parallel processes on this machine (started as torchrun --standalone "
                "does); batch sizes are per process. Under torchrun leave it at 1 (default: 1)",
            )
        if experiment.name in TABLES:
            p.add_argument(
                "--seeds",
                metavar="N|LIST",
                help="run every seed of a count (--seeds 10: --seed and the 9 after it) or a list (--seeds 0,1,2), "
                "each in its own worker process, and report each result as the median [min, max] over them "
                "(default: the single --seed)",
            )
            p.add_argument(
                "--jobs",
                type=int,
                metavar="N",
                help="worker processes for --seeds, one PyTorch thread each unless --threads is given "
                "(default: one per seed, at most one per core)",
            )
        faster = "one" if experiment.threads == 1 else str(experiment.threads)
        p.add_argument(
            "--threads",
            type=int,
            default=experiment.threads,
            metavar="N",
            help=f"PyTorch CPU threads; {faster} is fastest for this workload on two cores "
            f"(0: PyTorch's default; at most {max_threads()}) (default: {experiment.threads})",
        )
    listed = sub.add_parser("runs", help="list the runs of a folder, newest first", description=LISTING_HELP)
    listed.add_argument(
        "folder", nargs="?", default="runs", metavar="DIR", help="folder of run directories (default: runs)"
    )
    compared = sub.add_parser(
        "compare",
        help="the options that differ and the results of several runs side by side; their curves in compare.html",
        description=COMPARE_HELP,
    )
    compared.add_argument("runs", nargs="+", metavar="RUN", help="run directories (two or more)")
    compared.add_argument("--out", default="compare.html", metavar="FILE", help="the page (default: compare.html)")
    return main


LISTING_HELP = """List the run directories of a folder, newest first: experiment, start time, status
(complete, warned, incomplete, running, killed), duration, headline result and path."""
COMPARE_HELP = """Print the options that differ between runs and their results side by side, and write
a self-contained page (FILE) with the same tables and the runs' loss curves overlaid."""


def _list_or_compare(args: argparse.Namespace) -> None:
    if args.experiment == "runs":
        print(runs_table(Path(args.folder)))
        return
    out = Path(args.out)
    print(compare([Path(run) for run in args.runs], out))
    print(f"\nComparison: {out}")


def _relaunch(argv: Sequence[str], nproc: int) -> int:
    """Run the same command in ``nproc`` data-parallel processes; its exit status."""
    rest, skip = [], False
    for arg in argv:  # drop --nproc N / --nproc=N: each process is one of the N
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    return launch(["-m", "rnnlab.cli", *rest], nproc)


def check_processes(nproc: int) -> None:
    if nproc < 1:
        raise ValueError(f"--nproc must be at least 1, received {nproc}.")
    if nproc > 1 and launched_by_torchrun():
        raise ValueError(
            "--nproc is for single-machine runs; under torchrun the process count comes from torchrun "
            "(--nproc-per-node, --nnodes)."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one experiment. Bad options and bad input files are a one-line error (exit code 2),
    trouble with the disk or memory one line too (exit code 1); SIGTERM and Ctrl-C stop the run,
    which keeps what it finished as .incomplete (exit code 143 or 130); anything else is a bug and
    surfaces with its traceback."""
    stops = Stops(last=argv is None)  # the command: its process ends when main returns
    try:
        stops.install()
        code = _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        code = 130
    except Terminated:
        code = 143
    finally:
        stops.restore()
    if stops.received and launched_by_torchrun():
        # One of several processes, its files safe: leave now. Python's own exit would wait in the
        # process group's teardown for peers that wait in a collective for this process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stops.status(code))
    return stops.status(code)


def _run(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help (0), or an option argparse refused and explained on stderr (2)
        return done.code if isinstance(done.code, int) else 2
    if args.experiment in ("runs", "compare"):
        try:
            _list_or_compare(args)
        except (ValueError, FileNotFoundError) as err:
            return error(args.experiment, str(err), 2)
        except OSError as err:
            return error(args.experiment, describe(err), 1)
        return 0
    name = f"{args.experiment} {args.command}" if getattr(args, "command", None) else args.experiment
    experiment = experiments()[name]
    nproc = getattr(args, "nproc", 1)
    try:
        check_threads(args.threads)
        check_processes(nproc)
        config = from_arguments(experiment.config, args)
        validate(config)
        # --seeds exists only where the options have a seed (inspect and export train nothing)
        seeds = parse_seeds(args.seeds, config.seed) if getattr(args, "seeds", None) else []
        if not seeds and getattr(args, "jobs", None) is not None:
            raise ValueError("--jobs sets how many seeds run at once; give it with --seeds (a count or a list).")
        if len(seeds) > 1:
            if nproc > 1:
                raise ValueError("--seeds runs each seed in one process; leave --nproc at 1 with it.")
            jobs = jobs_for(args.jobs, len(seeds))
            threads = args.threads if any(a.split("=")[0] == "--threads" for a in argv) else 1
            run_seeds(name, config, seeds, jobs, threads, getattr(args, "out", None), args.quiet)
            return 0
        if seeds:  # one seed listed: the single run of that seed
            config.seed = seeds[0]
        if nproc > 1:  # every option checked: now start the processes
            return _relaunch(argv, nproc)
        if launched_by_torchrun() and os.environ.get("RANK", "0") != "0":
            sys.stdout = open(os.devnull, "w")  # process 0 prints the results
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        experiment.run(config, out=getattr(args, "out", None), quiet=args.quiet)
    except (ValueError, FileNotFoundError) as err:
        return error(name, str(err), 2)
    except OSError as err:  # the environment: a read-only or full disk, a folder that is a file
        return error(name, describe(err), 1)
    except SeedLost as err:
        return error(name, str(err), 1)
    except (MemoryError, torch.OutOfMemoryError) as err:
        return error(name, f"not enough memory ({err or 'MemoryError'}); use smaller settings", 1)
    return 0


def error(experiment: str, message: str, code: int) -> int:
    print(f"rnnlab {experiment}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def describe(err: OSError) -> str:
    """An OSError as one sentence naming its path(s): 'cannot write runs/x: No space left on device'."""
    reason = err.strerror or str(err)
    if err.filename is not None and err.filename2 is not None:
        return f"cannot move {err.filename} to {err.filename2}: {reason}"
    if err.filename is not None:
        return f"{err.filename}: {reason}"
    return reason


if __name__ == "__main__":
    sys.exit(main())
