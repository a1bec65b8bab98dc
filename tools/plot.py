"""plot.py - draw the PNG of results tables (called by tools/plot.sh).

    python3 tools/plot.py LONG PNG [LONG PNG ...]

LONG is the output of 'awk -F, -v mode=long -f tools/stats.awk TABLE.csv':
'# title:', '# rows:', '# cols:', '# values:', '# units:' lines, then
row,col,value,n,runs_ok,runs,median,min,max. The medians are computed there,
once, by stats.awk; this file only draws them.

x is the rows key (a numeric axis when every rows value is a number, log
scale when they span 16x or more; otherwise grouped bars); one line per cols
value, y the first value column, or, without cols, one line per value
column that has the unit of the first; error bars from min to max.
"""
import csv
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

UNIT_WORDS = {"s": "seconds", "ms": "ms", "µs": "µs", "ns": "ns",
              "KiB": "KiB", "MiB": "MiB", "%": "%"}


def read_long(path):
    meta, rows = {}, []
    with open(path, encoding="utf-8") as f:
        lines = []
        for line in f:
            if line.startswith("# "):
                key, _, val = line[2:].rstrip("\n").partition(": ")
                meta[key.rstrip(":")] = val
            else:
                lines.append(line)
    for r in csv.DictReader(lines):
        rows.append(r)
    return meta, rows


def number(s):
    try:
        return float(s)
    except ValueError:
        return None


def plot(long_path, png_path):
    meta, rows = read_long(long_path)
    values = [v for v in meta.get("values", "").split(",") if v]
    units = meta.get("units", "").split(",")
    units += [""] * (len(values) - len(units))
    unit_of = dict(zip(values, units))
    if not values or not rows:
        print("plot: %s: nothing to plot" % png_path, file=sys.stderr)
        return False
    has_cols = meta.get("cols", "") != ""
    if has_cols:
        series = []
        for r in rows:
            if r["value"] == values[0] and r["col"] not in series:
                series.append(r["col"])
        pick = [(s, s, values[0]) for s in series]
    else:
        pick = [(v, "", v) for v in values if unit_of[v] == unit_of[values[0]]]
    xs = []
    for r in rows:
        if r["row"] not in xs:
            xs.append(r["row"])
    numeric = all(number(x) is not None for x in xs)

    fig, ax = plt.subplots(figsize=(8, 4.8))
    nseries = len(pick)
    for k, (label, col, value) in enumerate(pick):
        pts = [r for r in rows
               if r["col"] == col and r["value"] == value and r["median"] != ""]
        if numeric:
            pts.sort(key=lambda r: number(r["row"]))
            x = [number(r["row"]) for r in pts]
        else:
            x = [xs.index(r["row"]) + (k - (nseries - 1) / 2) * 0.8 / nseries
                 for r in pts]
        med = [float(r["median"]) for r in pts]
        lo = [m - float(r["min"]) for m, r in zip(med, pts)]
        hi = [float(r["max"]) - m for m, r in zip(med, pts)]
        if numeric:
            ax.errorbar(x, med, yerr=[lo, hi], marker="o", capsize=3,
                        label=label)
        else:
            ax.bar(x, med, width=0.8 / nseries, yerr=[lo, hi], capsize=3,
                   label=label)
    if numeric:
        vals = [number(x) for x in xs]
        if min(vals) > 0 and max(vals) / min(vals) >= 16:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs)
    ax.set_xlabel(meta.get("rows", ""))
    u = unit_of[values[0]]
    name = values[0] if has_cols or len(pick) == 1 else "value"
    ax.set_ylabel(name + (" (%s)" % UNIT_WORDS.get(u, u) if u else ""))
    ax.set_ylim(bottom=0)
    # Long titles are wrapped: one line of them runs off the figure.
    ax.set_title("\n".join(textwrap.wrap(meta.get("title", ""), 90)), fontsize=10)
    ax.grid(True, alpha=0.3)
    if nseries > 1 or has_cols:
        ax.legend(title=meta.get("cols") or None, fontsize=8)
    fig.text(0.99, 0.01, "median of the ok runs; bars: min to max",
             ha="right", va="bottom", fontsize=7, alpha=0.7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        print("usage: plot.py LONG PNG [LONG PNG ...]", file=sys.stderr)
        return 2
    ok = True
    for i in range(1, len(argv), 2):
        try:
            if plot(argv[i], argv[i + 1]):
                print("wrote %s" % argv[i + 1])
            else:
                ok = False
        except Exception as e:  # one bad table must not stop the others
            print("plot: %s: %s" % (argv[i + 1], e), file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
