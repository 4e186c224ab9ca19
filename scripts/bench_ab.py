"""Before and after: ``concur bench --quick`` on an older commit and on this tree, paired.

    python scripts/bench_ab.py REV [--pairs 5] [--out DIR]

The older commit is checked out in a temporary git worktree and run from there (its code
on ``PYTHONPATH``, this environment's libraries), alternating with this tree — old, new,
then new, old — so that a machine getting busier or quieter does not favour either side.
Each pair gives every engine's CPU per request on every quick scenario; the table shows
the medians and the median of the paired ratios (new / old), which cancels most of a
shared machine's drift.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["serial", "threads", "processes", "gevent", "tornado", "asyncio", "uvloop", "httpx"]
SCENARIOS = ["book", "scale", "cpu", "tail", "faults"]


def bench(tree: Path, out: Path) -> dict[tuple[str, str], float]:
    """One quick bench of ``tree``: (scenario, engine) -> CPU µs per request."""
    env = dict(os.environ, PYTHONPATH=f"{tree / 'src'}{os.pathsep}{tree}")
    command = [sys.executable, "-m", "concur", "bench", "--quick", "--no-references"]
    subprocess.run([*command, "--no-plots", "--out", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    found = {}
    for name, block in json.loads((out / "results.json").read_text())["scenarios"].items():
        for engine, result in (block.get("results") or {}).items():
            cpu = (result.get("median") or {}).get("cpu_us_per_request")
            if cpu is not None:
                found[(name, engine)] = cpu
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev", help="the older commit")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--out", type=Path, help="keep each run's results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.rev],
                       check=True, capture_output=True)  # fmt: skip
        keep = args.out or Path(tmp) / "runs"
        runs: dict[str, list[dict[tuple[str, str], float]]] = {"old": [], "new": []}
        try:
            for i in range(args.pairs):
                for side in ("old", "new") if i % 2 == 0 else ("new", "old"):
                    tree = old if side == "old" else ROOT
                    runs[side].append(bench(tree, keep / f"{side}-{i + 1}"))
                    print(f"pair {i + 1}: {side} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)  # fmt: skip
    keys = set.intersection(*(set(r) for r in runs["old"] + runs["new"]))
    engines = sorted({e for _, e in keys}, key=lambda e: ORDER.index(e) if e in ORDER else 99)
    print("| engine | " + " | ".join(SCENARIOS) + " | all scenarios |")
    print("|---|" + "---:|" * (len(SCENARIOS) + 1))
    for engine in engines:
        cells, ratios = [], []
        for scenario in SCENARIOS:
            if (scenario, engine) not in keys:
                cells.append("")
                continue
            before = [r[(scenario, engine)] for r in runs["old"]]
            after = [r[(scenario, engine)] for r in runs["new"]]
            paired = [b / a for a, b in zip(before, after, strict=True)]
            ratios += paired
            cells.append(
                f"{statistics.median(before):,.0f} → {statistics.median(after):,.0f} "
                f"({statistics.median(paired) - 1:+.1%})"
            )
        print(f"| {engine} | " + " | ".join(cells) + f" | {statistics.median(ratios) - 1:+.1%} |")


if __name__ == "__main__":
    main()
