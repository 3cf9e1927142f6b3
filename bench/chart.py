#!/usr/bin/python3
"""Draws bench/run.py's results.json as one bar chart: ours / libev per metric, with 1.0 (parity)
marked. Usage: chart.py results.json chart.png. Needs Debian's python3-matplotlib."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        data = json.load(f)
    rows = data["rows"]
    # "Better" ratio: above 1 means shadowsocks-cpp is better, whatever the metric's direction.
    labels, values, colors = [], [], []
    for r in rows:
        ratio = r["ratio"] if r["higher_is_better"] else (r["libev"] / r["ours"] if r["ours"] else 0)
        labels.append(f"{r['benchmark']} - {r['metric']}")
        values.append(ratio)
        colors.append("#2a7ab9" if ratio >= 1 else "#c0392b")
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(list(y), values, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("advantage of shadowsocks-cpp over shadowsocks-libev (x; >1 is better)")
    ax.set_title(f"shadowsocks-cpp vs shadowsocks-libev - median of {data['runs']} run(s) of "
                 f"{data['seconds']} s on {data['cores']} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
