"""Which model should I pick?  ``concur plan``: a rate and a latency in, a table out."""

from __future__ import annotations

import argparse
import math
import re
from typing import TYPE_CHECKING, Any

from concur.args import duration, fail, parse_duration, positive_int

if TYPE_CHECKING:
    from concur.bench.capacity import Choice, Measured, Plan

DESCRIPTION = """\
Which concurrency model should I pick?  Computed from a benchmark's results, not
written: Little's law gives the requests in flight (rate x latency); each engine's
measured CPU per request gives the cores the rate needs (one event loop, or the
threads of one process, use one core at most; the process pool uses them all); its
memory per request in flight gives the RSS; and the sweep says whether that many in
flight is past its knee.  Models that reach the rate come first, cheapest CPU first.

The results are the full concur bench run shipped with concur (2 CPUs), or your own
results.json (concur bench cpu book scale sweep --out DIR: the scenarios it reads).

example:
  concur plan --latency 100ms --rate 5000/s
  concur plan --latency 1s --rate 300/min --cores 8 --results bench-out/results.json --json
"""

BIG = 1e15  # past this a figure is shown as 3.6e+20, not as twenty-one digits (capacity.BIG)
_RATE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*(\S+?))?\s*")


def rate(text: str) -> float:
    """An argparse type: requests per second from ``5000/s``, ``5000`` or ``300/min``
    (any duration after the slash: ``/ms``, ``/h``, ``/10s``)."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate (e.g. 5000/s, 5000, 300/min)")
    number, per = match.groups()
    seconds = 1.0
    if per is not None:  # "min" is one minute, "10s" ten seconds
        try:
            seconds = parse_duration(per if per[0] in ".0123456789" else f"1{per}", "s")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: unknown unit {per!r} (use /s, /min or /h)"
            ) from None
    value = float(number) / seconds if seconds else math.inf
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a rate must be more than 0 and finite")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--latency",
        required=True,
        type=duration("ms", positive=True),
        metavar="DURATION",
        help="how long each request waits for its answer: 100ms, 1.5s (a bare number is ms)",
    )
    parser.add_argument(
        "--rate",
        required=True,
        type=rate,
        metavar="RATE",
        help="requests to make per second: 5000/s, 5000, 300/min",
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="a results.json of concur bench (default: the full run shipped with concur)",
    )
    parser.add_argument(
        "--cores",
        type=positive_int,
        metavar="N",
        help="the cores to plan for (default: those of the machine that measured)",
    )
    parser.add_argument("--json", action="store_true", help="the plan as JSON, not a table")


def _load(parser: argparse.ArgumentParser, given: str | None) -> tuple[dict[str, Any], str]:
    """The results document (only what the plan reads of it) and how to name it."""
    import json
    from pathlib import Path

    from concur.bench.capacity import SHIPPED, essentials
    from concur.bench.schema import SchemaError, validate

    path = Path(given) if given else SHIPPED
    name = str(path) if given else "the results shipped with concur (docs/bench/results.json)"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(parser, f"{path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        fail(parser, f"{path}: not JSON ({exc})")
    results = essentials(loaded)  # checked without its timelines: 50 times faster
    try:
        validate(results)
    except SchemaError as exc:
        fail(parser, f"{path}: not concur bench results: {str(exc).splitlines()[0]}")
    return results, name


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from concur.bench.capacity import NotEnoughData, plan

    parser: argparse.ArgumentParser = args._parser
    latency_s = args.latency / 1e3
    if not math.isfinite(args.rate * latency_s):  # Little's law would give infinity
        fail(parser, "--rate × --latency: more requests in flight than a number can hold")
    results, source = _load(parser, args.results)
    try:
        answer = plan(results, latency_s, args.rate, args.cores)
    except NotEnoughData as exc:
        fail(parser, f"{args.results or source}: {exc}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # valid JSON, odd content
        why = (str(exc).splitlines() or [""])[0]
        fail(parser, f"{args.results or source}: cannot plan from it ({type(exc).__name__}: {why})")
    if args.json:
        print(
            json.dumps(
                {
                    "latency_s": latency_s,
                    "rate_per_s": args.rate,
                    "cores": answer.cores,
                    "in_flight": answer.in_flight,
                    "results": args.results or "shipped",
                    "measured_on": answer.measured_on,
                    "choices": [asdict(c) for c in answer.choices],
                    "measured": [asdict(m) for m in answer.measured],
                    "notes": list(answer.notes),
                }
            )
        )
        return 0
    print("\n".join(render(answer, source)))
    return 0


def _n(x: float) -> str:
    """A count or rate: 5,000; 2.5; 0.25; 3.6e+20 rather than twenty-one digits."""
    if x >= BIG:
        return f"{x:.3g}"
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _c(cores: float) -> str:
    """Cores: 0.64, 16.33; small ones to two figures (0.0028), not 0.00."""
    if cores >= BIG:
        return f"{cores:.3g}"
    return f"{cores:.2f}" if cores >= 0.095 else f"{cores:.2g}"


def _mib(x: float, places: int = 0) -> str:
    return f"{x:,.{places}f}" if x < BIG else f"{x:.3g}"


def _s(seconds: float) -> str:
    return f"{seconds * 1e3:g} ms" if seconds < 1 else f"{seconds:g} s"


def _knee(c: Choice) -> str:
    from concur.bench.capacity import SERIAL

    if c.knee is not None:
        return _n(c.knee)
    if c.measured_to is not None and c.past_knee is not None:
        return f">{_n(c.measured_to)}"
    return "-" if c.model == SERIAL else "?"


def table(answer: Plan) -> list[str]:
    """The plan as aligned text: one row per engine, in the plan's order."""
    head = ("engine", "model", "reaches", "CPU/request", "cores", "max rate", "in flight",
            "knee", "memory", "verdict")  # fmt: skip
    rows = [
        (
            c.engine,
            c.model,
            "yes" if c.reaches else "no",
            f"{c.cpu_us:,.1f} µs",
            f"{_c(c.cores)} of {c.usable_cores:g}",
            f"{_n(c.max_rate)}/s",
            _n(c.in_flight),
            _knee(c),
            "?" if c.memory_mib is None else f"{_mib(c.memory_mib)} MiB",
            c.verdict,
        )
        for c in answer.choices
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3, 4, 5, 6, 7, 8}  # numbers

    def line(r: tuple[str, ...]) -> str:
        cells = [
            r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))
        ]
        return "  ".join(cells).rstrip()

    return [line(head), *(line(r) for r in rows)]


def _measured(answer: Plan, engine: str) -> Measured:
    return next(m for m in answer.measured if m.engine == engine)


def explain(answer: Plan, source: str) -> list[str]:
    """The arithmetic behind the table, with the plan's own numbers."""
    from concur.bench.capacity import SERIAL

    rate, lat = answer.rate, answer.latency_s
    out = [
        f"Little's law: to make {_n(rate)} requests a second that each wait {_s(lat)}, "
        f"{_n(rate)}/s × {lat:g} s = {_n(answer.in_flight)} requests must be in flight at "
        "any moment.",
    ]
    concurrent = [c for c in answer.choices if c.model != SERIAL]
    best = next(iter(concurrent), None)
    if best is not None:
        m = _measured(answer, best.engine)
        out.append(
            f"CPU = rate × CPU per request (the cpu scenario: zero delay, kept-alive "
            f"connections): {best.engine} needs {_n(rate)}/s × {best.cpu_us:,.1f} µs = "
            f"{_c(best.cores)} cores.  One event loop, and the threads of one process "
            f"(the GIL), use one core at most: 1 / {best.cpu_us:,.1f} µs = "
            f"{_n(1e6 / best.cpu_us)} requests/s for {best.engine}; only the process pool "
            f"uses all {answer.cores} cores."
        )
        short = next((c for c in concurrent if not c.reaches), None)
        if short is not None:
            out.append(
                f"{short.engine} needs {_n(rate)}/s × {short.cpu_us:,.1f} µs = "
                f"{_c(short.cores)} cores: more than the {short.usable_cores:g} it can use."
            )
        if best.memory_mib is not None and m.base_mib is not None and m.kib_per_slot:
            out.append(
                f"Memory = RSS with nothing in flight + in flight × RSS per request in "
                f"flight, a line through the peak RSS of {m.memory_from}: {best.engine} "
                f"{m.base_mib:.1f} MiB + {_n(best.in_flight)} × {m.kib_per_slot:.1f} KiB = "
                f"{_mib(best.memory_mib, 1)} MiB."
            )
        if m.knee_delay_ms is not None:
            where = f"{m.knee_delay_ms:g} ms"
            if abs(m.knee_delay_ms - lat * 1e3) > 1e-9:
                where += (
                    f", the measured delay nearest {_s(lat)}; moved to {_s(lat)} by "
                    f"Little's law (× {lat * 1e3 / m.knee_delay_ms:g})"
                )
            if best.knee is not None:
                side = "past" if best.past_knee else "below"
                knee = f"{best.engine}'s is at {_knee(best)}, and {_n(best.in_flight)} is {side} it"
            elif best.past_knee is False:
                knee = f"{best.engine} has none up to {_knee(best)[1:]} in flight"
            else:
                knee = f"{best.engine} was not measured at {_n(best.in_flight)} in flight"
            out.append(
                "Knee: the first concurrency measured below 80 % of the ideal throughput "
                f"with the client's CPU busy, at {where}: {knee}."
            )
    out.append(
        f"Measured on {answer.measured_on}: {source}.  --cores N plans for another "
        "machine, --results FILE reads your own concur bench run."
    )
    return out


def render(answer: Plan, source: str) -> list[str]:
    """The whole answer: the question, the table, the arithmetic and what is missing."""
    import textwrap

    head = (
        f"{_n(answer.rate)} requests/s, each waiting {_s(answer.latency_s)}, on "
        f"{answer.cores} core{'s' if answer.cores > 1 else ''}: "
        f"{_n(answer.in_flight)} in flight"
    )
    out = [head, "", *table(answer), ""]
    for paragraph in explain(answer, source):
        out += textwrap.wrap(paragraph, 92, subsequent_indent="  ")
    for note in answer.notes:
        out += textwrap.wrap(f"note: {note}", 92, subsequent_indent="  ")
    return out
