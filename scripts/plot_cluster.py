"""Draw the shared-crawl benchmark's figure from the JSON ``bench_cluster.py`` wrote.

Left: pages/s against worker processes on the latency-bound site — each trial as a dot,
the median as a line, beside the ideal (N × one worker's median) and the issue's target
(0.9 × the ideal).  Right: the CPU-bound site, 1 worker against 2 — pages/s, and where
the CPU went (the workers, the mock server, the Valkey server), since on two cores they
all share the machine.

Run:  python scripts/plot_cluster.py docs/bench/cluster.json docs/images/cluster_scaling.png
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(source: str, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data: dict[str, Any] = json.load(open(source))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=(3, 2))

    scaling = data["scaling"]
    ns = sorted(int(n) for n in scaling["medians"])
    med = [scaling["medians"][str(n)]["steady_pages_per_s"] for n in ns]
    one = med[0]
    for n in ns:
        dots = [t["steady_pages_per_s"] for t in scaling["trials"][str(n)]]
        left.scatter([n] * len(dots), dots, color="#1f77b4", alpha=0.4, s=18)
    left.plot(ns, med, "o-", color="#1f77b4", label="measured (median; dots: trials)")
    left.plot(ns, [n * one for n in ns], "--", color="#555555", label="ideal: N × one worker")
    left.plot(ns, [0.9 * n * one for n in ns], ":", color="#d62728", label="target: 0.9 × ideal")
    for n, m in zip(ns, med, strict=True):
        left.annotate(f"{m / (n * one):.2f}", (n, m), textcoords="offset points", xytext=(6, -12))
    args = data["args"]
    left.set_title(
        f"latency-bound: {args['latency']:g} ms per answer, -c {args['worker_c']} per worker",
        fontsize=10,
    )
    left.set_xlabel("worker processes (one shared Valkey frontier)")
    left.set_ylabel("pages/s (middle 80 % of the crawl)")
    left.set_xticks(ns)
    left.legend(fontsize=8, loc="upper left")
    left.grid(alpha=0.3)

    cpu = data["cpu_bound"]["medians"]
    labels = ["1 worker", "2 workers"]
    rows = [cpu["1"], cpu["2"]]
    xs = range(len(rows))
    bottom = [0.0] * len(rows)
    parts = [
        ("workers_cpu_s", "workers", "#1f77b4"),
        ("mock_cpu_s", "mock server", "#ff7f0e"),
        ("valkey_cpu_s", "Valkey", "#2ca02c"),
    ]
    for key, name, colour in parts:
        values = [r[key] for r in rows]
        right.bar(xs, values, bottom=bottom, color=colour, label=f"{name} CPU s", width=0.5)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, r, b in zip(xs, rows, bottom, strict=True):
        right.annotate(f"{r['pages_per_s']:,.0f} pages/s", (x, b), ha="center",
                       textcoords="offset points", xytext=(0, 4), fontsize=9)  # fmt: skip
    right.set_xticks(list(xs), labels)
    right.set_ylabel("CPU seconds for the whole crawl")
    right.set_title(f"CPU-bound (no delay, -c {args['cpu_c']}): 2 vCPUs shared", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    right.set_ylim(0, max(bottom) * 1.25)
    fig.suptitle("One crawl, many workers: concur's shared frontier", fontsize=11)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
