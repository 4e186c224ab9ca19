"""The GIL lab: show, measure and picture the GIL next to I/O-bound concurrency.

Runs the experiments (all of them, or those named, in reading order), writes each
result as JSON with the machine it ran on plus at least one PNG figure to --out, and
prints what it found with a short "what you should see, and why".

  concur gil                          # all eight, about a minute each at most
  concur gil --quick                  # all eight, small: under 30 s on two cores
  concur gil convoy switch --out lab  # two of them
  concur gil freethreaded --python /usr/bin/python3.13t
  concur gil --list
  concur gil timeline --trace gil.json  # the threads' GIL holds, for ui.perfetto.dev

Experiments: speedup, convoy, switch, timeline, lag, mixed, requests, freethreaded
(or their numbers 1-8).
"""

from __future__ import annotations

import argparse

from concur.args import lacking, output_path

DESCRIPTION = """\
The GIL lab: show, measure and picture the GIL next to I/O-bound concurrency.

Runs the experiments (all of them, or those named, in reading order), writes each
result as JSON with the machine it ran on plus at least one PNG figure to --out, and
prints what it found with a short "what you should see, and why".  It needs
matplotlib for the figures and bcrypt for experiment 6: pip install 'concur[gil]'.

Experiments: speedup, convoy, switch, timeline, lag, mixed, requests, freethreaded
(or their numbers 1-8).

examples:
  concur gil                          # all eight, about a minute each at most
  concur gil --quick                  # all eight, small: under 30 s on two cores
  concur gil convoy switch --out lab  # two of them
  concur gil freethreaded --python /usr/bin/python3.13t
  concur gil --list
  concur gil timeline --trace gil.json  # the threads' GIL holds, for ui.perfetto.dev
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiments", nargs="*", metavar="EXPERIMENT", help="names or numbers (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="small runs: all in under 30 s")
    parser.add_argument(
        "--out", default="gil-results", metavar="DIR", help="the folder for JSON and PNG files"
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="another interpreter (a free-threaded build) for experiment 8 to rerun 1-3 on",
    )
    parser.add_argument(
        "--trace",
        type=output_path,
        metavar="FILE",
        help="also write Chrome/Perfetto trace-event JSON (ui.perfetto.dev, chrome://tracing): "
        "the timeline experiment's threads as tracks with the spans each held the GIL, and the "
        "requests experiment's requests on lanes; the other experiments record no timeline "
        "and add nothing (docs/trace.md)",
    )
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    import sys
    import time
    from pathlib import Path

    from concur.gil.experiments import EXPERIMENTS, get
    from concur.gil.lab import Lab, run_experiments

    parser: argparse.ArgumentParser | None = getattr(args, "_parser", None)

    def fail(message: str) -> int:
        if parser is not None:
            parser.exit(2, f"concur gil: error: {message}\n")
        print(f"concur gil: error: {message}", file=sys.stderr)
        return 2

    if args.list:
        for exp in EXPERIMENTS:
            print(f"{exp.number}  {exp.name:<13} {exp.title}")
        return 0
    try:
        names = [get(name).name for name in args.experiments]
    except KeyError as exc:
        return fail(str(exc.args[0]))
    if args.trace:
        from concur.report.trace import TRACED_EXPERIMENTS

        if names and not set(names) & set(TRACED_EXPERIMENTS):
            return fail(
                f"--trace applies to the {' and '.join(TRACED_EXPERIMENTS)} experiments (the "
                f"others record no timeline), not to {', '.join(names)}"
            )
        from concur.commands.output import check_writable
        from concur.errors import ConcurError

        try:
            check_writable(args.trace)
        except ConcurError as exc:
            return fail(str(exc))
    # before any work: every experiment draws a figure, and "mixed" hashes with bcrypt
    need = ["matplotlib"] + (["bcrypt"] if not names or "mixed" in names else [])
    missing = lacking(need)
    if missing:
        return fail(f"the GIL lab needs {' and '.join(missing)}: pip install 'concur[gil]'")
    python = None
    if args.python:
        python = shutil.which(args.python) or args.python
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            return fail(f"--python {args.python}: not an executable")
    out = Path(args.out)
    t0 = time.perf_counter()
    command = " ".join(
        ["concur gil", *names]
        + (["--quick"] if args.quick else [])
        + ["--out", str(out)]
        + (["--python", python] if python else [])
    )
    with Lab(quick=args.quick, out=out, python=python, command=command) as lab:
        docs = run_experiments(lab, names)
    if args.trace:
        from concur.report import trace

        drawn = trace.gil_trace(docs)
        if drawn is not None:
            trace.write(args.trace, drawn)
            print(f"\nconcur gil: trace in {args.trace}: open it in https://ui.perfetto.dev")
        else:  # every traced experiment was skipped: say so, rather than write nothing silently
            print(f"\nconcur gil: no trace in {args.trace}: the experiments it draws were skipped")
    print(
        f"\nconcur gil: {len(docs)} experiment{'s' if len(docs) != 1 else ''} in "
        f"{time.perf_counter() - t0:.1f} s; JSON and figures in {out}/"
    )
    return 0
