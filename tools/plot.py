"""plot.py - draw the PNG of results tables (called by tools/plot.sh).

    python3 tools/plot.py TABLE.csv PNG [TABLE.csv PNG ...]

Each table is drawn the way its lesson reads it: the FIGURES table below
says, per table, which panels to draw, what kind (lines against a number,
grouped or stacked bars), which key is x, which key makes one series per
value (one line or bar per model, mode, ...), which value columns are
plotted, and whether an axis is logarithmic. A table not listed there is
drawn plainly from its '# report:' line: x the rows key, one line per cols
value, y the first value column.

The medians are computed by tools/stats.awk (asked for the rows, cols and
values a panel needs); this file only draws them, with error bars from the
min to the max of the ok runs.
"""
import csv
import math
import os
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

STATS_AWK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats.awk")
WIDTH_IN, DPI = 8.0, 100          # 800 px: the width of a README page

# --- words ----------------------------------------------------------------

# What a legend says for a key's value: models, copy modes, links...
NAMES = {
    "model": {
        "iterative": "iterative (one client at a time)",
        "fork": "fork: a process per client",
        "thread": "thread: a thread per client",
        "thread-stack64k": "thread, 64 KiB stacks",
        "prefork": "prefork: forked in advance",
        "prefork-w4": "prefork, 4 processes",
        "pool": "thread pool",
        "pool-w4": "thread pool, 4 threads",
        "select": "select",
        "poll": "poll",
        "epoll": "epoll, level-triggered",
        "epoll_et": "epoll, edge-triggered",
        "epoll_workers": "epoll, loop per core, hand-off",
        "epoll_reuseport": "epoll, loop per core, REUSEPORT",
        "uring": "io_uring",
        "uring_multishot": "io_uring + multishot, buffer ring",
        "uring_defer": "io_uring + multishot + DEFER_TASKRUN",
        "uring_fixed": "io_uring + all three + direct descriptors",
        "epoll_procs4": "epoll, 4 processes on one port",
        "epoll_procs12": "epoll, 12 processes on one port",
        "epoll_offload": "epoll loop + pool for the work",
    },
    "mode": {
        "two-copy": "two-copy (memcpy, then send)",
        "one-copy": "one-copy (sendmsg with an iovec)",
        "zero-copy": "zero-copy (MSG_ZEROCOPY)",
        "sendfile": "sendfile (from a memory file)",
        "send-zc": "send-zc (io_uring IORING_OP_SEND_ZC)",
        "iperf3": "iperf3 (reference)",
    },
    "link": {"loopback": "loopback", "veth": "veth pair (two namespaces)",
             "send-zc-loopback": "send-zc, loopback",
             "send-zc-veth": "send-zc, veth pair"},
    "c": lambda v: "1 client thread" if v == "1" else v + " client threads",
    "n": "{} sessions held",
}

# Short names for the ticks under bars.
TICKS = {
    "iterative": "iterative", "fork": "fork", "thread": "thread",
    "thread-stack64k": "thread\n64 KiB stacks", "prefork": "prefork",
    "prefork-w4": "prefork\n4 processes", "pool": "pool",
    "pool-w4": "pool\n4 threads", "uring": "uring",
    "uring_multishot": "uring\nmulti-\nshot", "epoll_procs4": "epoll\n×4",
    "epoll_procs12": "epoll\n×12",
    "free": "server running freely", "paused": "server paused\n100 ms in every second",
}

# One look per model and mode in every figure: part 2's designs dashed,
# part 3's solid; iperf3 grey, a reference and not a contender.
STYLE = {
    "iterative": ("black", "s", "-"),
    "fork": ("tab:red", "v", "--"),
    "thread": ("tab:orange", "^", "--"),
    "thread-stack64k": ("tab:brown", "<", "--"),
    "prefork": ("tab:pink", ">", "--"),
    "prefork-w4": ("tab:pink", ">", "--"),
    "pool": ("tab:olive", "D", "--"),
    "pool-w4": ("tab:olive", "D", "--"),
    "select": ("tab:purple", "o", "-"),
    "poll": ("tab:blue", "s", "-"),
    "epoll": ("tab:green", "o", "-"),
    "epoll_et": ("lime", "x", "-"),
    "epoll_workers": ("tab:cyan", "P", "-"),
    "epoll_reuseport": ("teal", "*", "-"),
    "uring": ("tab:gray", "h", "-"),
    "uring_multishot": ("dimgray", "H", "-"),
    "uring_defer": ("darkgray", "p", "-"),
    "uring_fixed": ("black", "d", "-"),
    "two-copy": ("tab:red", "o", "-"),
    "one-copy": ("tab:blue", "s", "-"),
    "zero-copy": ("tab:green", "^", "-"),
    "sendfile": ("tab:purple", "D", "-"),
    "send-zc": ("goldenrod", "v", "--"),
    "iperf3": ("gray", "", ":"),
    "loopback": ("tab:blue", "o", "-"),
    "veth": ("tab:orange", "s", "-"),
}

UNIT_WORDS = {"s": "s", "ms": "ms", "µs": "µs", "ns": "ns", "KiB": "KiB",
              "MiB": "MiB", "%": "%", "requests/s": "requests per second",
              "MB/s": "MB per second", "Gbit/s": "Gbit per second"}

CONCURRENT = ["fork", "thread", "prefork", "pool"]

# --- how each table is drawn ----------------------------------------------
#
# A figure: `grid` (rows, columns) of `panels`; `sharey` for panels on one
# y axis; `legend_panel`: the legend in a cell of its own, under this
# title. A panel:
#   kind    "lines" (x a number), "bars" (grouped), "stacked" (the values
#           of `y` on top of each other)
#   x       the key along x; `by` the key whose values are the series (one
#           line or bar per model, mode...), or none: then one per y value
#   y       value columns: a name, or (name, legend, factor); with `by`,
#           legend may be a dict {series: legend} (and only those drawn)
#   ratio   (a, b): one series, median a / median b (instead of y)
#   only    the series to draw (default: all)
#   ylabel  the axis in words, with its unit; `title` above the panel
#   skip    values of x not drawn (part3_e's closed-loop "peak" cells)
#   xticks  the values of x that get a tick (default: every one)
#   vline   (x, words): a dotted vertical line at x, named in the legend
#   xscale  "linear" (default) or "log"
#   yscale  "linear" (default), "log", or "auto": log when the figure's
#           values span 50x or more
#   ylim    fixed y limits; `zoom`: y fitted to the data, not from 0
#   labels  print each bar's value on it (a string: a suffix, "%")
#   ref     "proportional": a pale line through 0 and the first point
#   note    a measured fact written in the corner (NOTES: computed from
#           the data, never typed)
#   legend  options for the legend of a one-panel figure
FIGURES = {
    "part1_a": dict(grid=(1, 2), panels=[
        dict(kind="lines", x="size", xscale="log", y=[("req_per_s", None, 1)],
             ylabel="round trips per second", title="throughput"),
        dict(kind="lines", x="size", xscale="log",
             y=[("lat_p50_us", "median (p50)", 1), ("lat_p99_us", "p99", 1)],
             ylabel="round-trip latency (µs)",
             title="latency of one round trip"),
    ]),
    "part1_b": dict(grid=(1, 1), panels=[
        dict(kind="lines", x="n", ref="proportional", ylabel="time (s)",
             y=[("wall_s", "total: all N clients done", 1),
                ("first_max_ms", "the last client's wait for its first reply",
                 1e-3)]),
    ]),
    "part2_a": dict(grid=(1, 2), panels=[
        dict(kind="lines", x="n", by="model", y=["wall_s"], note="overlap",
             ylabel="total wall time (s)", title="every model"),
        dict(kind="lines", x="n", by="model", y=["wall_s"], only=CONCURRENT,
             zoom=True, ylabel="total wall time (s)",
             title="the concurrent models, y zoomed in"),
    ]),
    "part2_b": dict(grid=(1, 2), panels=[
        dict(kind="bars", x="model", by="c", y=["req_per_s"],
             ylabel="connections per second", title="how fast"),
        dict(kind="bars", x="model", by="c", y=["srv_cpu_s"],
             ylabel="server CPU time, all 10,000 connections (s)",
             title="what it costs"),
    ]),
    "part2_c": dict(grid=(1, 1), panels=[
        dict(kind="bars", x="model", by="n", y=["srv_rss_kib"], yscale="log",
             labels=True,
             ylabel="peak RSS, whole server tree (KiB, log scale)"),
    ]),
    "part3_a": dict(
        grid=(2, 3),
        legend_panel="dashed: part 2's designs\nsolid: part 3's",
        panels=[
            dict(kind="lines", x="n", xscale="log", by="model",
                 y=["req_per_s"], ylabel="requests per second",
                 title="throughput"),
            dict(kind="lines", x="n", xscale="log", by="model",
                 y=["lat_p99_us"], yscale="log",
                 ylabel="p99 latency (µs, log scale)",
                 title="slowest 1% of requests"),
            dict(kind="lines", x="n", xscale="log", by="model",
                 y=["srv_cpu_pct"], ylabel="server CPU (% of one core)",
                 title="CPU"),
            dict(kind="lines", x="n", xscale="log", by="model",
                 y=["srv_rss_kib"], yscale="log",
                 ylabel="peak RSS (KiB, log scale)", title="memory"),
            dict(kind="lines", x="n", xscale="log", by="model",
                 y=["conn_failed"],
                 ylabel="connections refused, reset, timed out",
                 title="failed connections"),
        ]),
    "part3_b": dict(grid=(1, 2), panels=[
        dict(kind="lines", x="conns", y=[("sess_avg_s", "average", 1)],
             ylabel="duration of a connection (s)", note="failed",
             title="a connection's 100 requests"),
        dict(kind="lines", x="conns",
             y=[("lat_avg_us", "average", 1), ("lat_p99_us", "p99", 1)],
             ylabel="response time (µs)", title="one request"),
    ]),
    "part3_c": dict(grid=(1, 2), panels=[
        dict(kind="stacked", x="model",
             y=[("connections", "held", 1),
                ("conn_failed", "failed (refused, reset, timed out)", 1)],
             ylabel="connections", title="connections held of those asked"),
        dict(kind="bars", x="model", ratio=("srv_rss_kib", "connections"),
             yscale="log", labels=True,
             ylabel="peak RSS ÷ connections held (KiB, log scale)",
             title="memory per idle connection"),
    ]),
    "part3_d": dict(grid=(1, 2), panels=[
        dict(kind="bars", x="size", by="model", y=["req_per_s"],
             ylabel="requests per second", title="how fast"),
        dict(kind="bars", x="size", by="model", y=["srv_cpu_pct"],
             ylabel="server CPU (% of one core)", title="what it costs"),
    ]),
    "part3_e": dict(grid=(1, 2), sharey=True, panels=[
        dict(kind="lines", x="load", by="model", y=["lat_p50_us"],
             skip=["peak"], xticks=["10", "25", "50", "75", "100"],
             vline=(100, "the closed-loop peak"), yscale="log",
             ylabel="latency from the schedule (µs, log scale)",
             title="median (p50)"),
        dict(kind="lines", x="load", by="model", y=["lat_p99_us"],
             skip=["peak"], xticks=["10", "25", "50", "75", "100"],
             vline=(100, "the closed-loop peak"), yscale="log",
             ylabel="latency from the schedule (µs, log scale)",
             title="p99"),
    ]),
    "part3_f": dict(grid=(1, 1), panels=[
        dict(kind="bars", x="server", by="loop", yscale="log", labels=True,
             y=[("lat_p99_us", {"closed": "closed loop: p99",
                                "open": "open loop: p99 from the schedule "
                                        "(corrected)"}, 1),
                ("raw_p99_us", {"open": "open loop: p99 from the send "
                                        "(uncorrected)"}, 1)],
             legend=dict(loc="upper left"),
             ylabel="p99 latency (µs, log scale)"),
    ]),
    "part3_i": dict(grid=(1, 2), panels=[
        dict(kind="bars", x="load", by="mode", y=["srv_max_share_pct"],
             xlabel="how the connections arrive",
             ylim=(0, 110), labels=True,
             ylabel="busiest worker's share of connections (%)",
             title="who accepts (4 workers: even is 25%)"),
        dict(kind="bars", x="load", by="mode", y=["lat_p99_us"],
             xlabel="how the connections arrive",
             yscale="log", ylabel="p99 latency (µs, log scale)",
             title="slowest 1% of requests"),
    ]),
    "part3_g": dict(grid=(1, 2), panels=[
        dict(kind="bars", x="work", by="model", y=["achieved_rps"],
             ylabel="requests per second served (offered: see title)",
             title="throughput at a fixed offered load"),
        dict(kind="bars", x="work", by="model", y=["lat_p99_us"],
             yscale="log", ylabel="p99 latency from the schedule (µs, log scale)",
             title="slowest 1% of requests"),
    ]),
    "part3_h": dict(grid=(1, 1), panels=[
        dict(kind="bars", x="model",
             y=[("lat_p50_us", "p50", 1), ("lat_p99_us", "p99", 1)],
             yscale="log", labels=True,
             ylabel="fast clients' latency (µs, log scale)",
             title="64 B requests beside one that blocks 2 ms"),
    ]),
    "part3_j": dict(grid=(2, 2), panels=[
        dict(kind="bars", x="n", by="model", y=["req_per_s"],
             xlabel="connections (N)", ylabel="requests per second",
             title="throughput"),
        dict(kind="bars", x="n", by="model", y=["lat_p99_us"], yscale="log",
             xlabel="connections (N)", ylabel="p99 latency (µs, log scale)",
             title="slowest 1% of requests"),
        dict(kind="bars", x="n", by="model", y=["srv_sys_per_req"], yscale="log",
             xlabel="connections (N)",
             ylabel="server system calls per request (log scale)",
             title="system calls (io_uring_enter counted)"),
        dict(kind="bars", x="n", by="model", y=["srv_rss_kib"],
             xlabel="connections (N)", ylabel="server peak RSS (KiB)",
             title="memory"),
    ]),
    "part4_a": dict(grid=(1, 1), panels=[
        dict(kind="lines", x="size", xscale="log", by="mode", y=["gbit_s"],
             ylabel="throughput (Gbit per second)"),
    ]),
    "part4_b": dict(grid=(1, 2), panels=[
        dict(kind="lines", x="threads", by="mode", y=["lat_p50_us"],
             yscale="auto", ylabel="latency of one request (µs)",
             title="median (p50)"),
        dict(kind="lines", x="threads", by="mode", y=["lat_p99_us"],
             yscale="auto", ylabel="latency of one request (µs)",
             title="p99"),
    ]),
    "part4_c": dict(grid=(1, 2), sharey=True, panels=[
        dict(kind="lines", x="size", xscale="log", by="mode",
             y=["srv_cpu_per_kib_ns"], yscale="log",
             ylabel="CPU time per KiB (ns, log scale)",
             title="server, per KiB sent"),
        dict(kind="lines", x="size", xscale="log", by="mode",
             y=["cli_cpu_per_kib_ns"], yscale="log",
             ylabel="CPU time per KiB (ns, log scale)",
             title="client, per KiB received"),
    ]),
    "part4_d": dict(grid=(1, 1), panels=[
        dict(kind="bars", x="size", by="link", y=["srv_zc_copied_pct"],
             ylim=(0, 135), labels="%", note="copied",
             legend=dict(loc="upper right", ncol=2),
             ylabel="zero-copy sends the kernel copied (%)"),
    ]),
}

# Words for the keys along x.
XLABEL = {
    "n": "clients (N)", "conns": "connections (N)", "threads": "client threads",
    "size": "message size", "model": "", "c": "client threads",
    "load": "offered load (% of the closed-loop peak)", "server": "",
    "work": "work per request (none, CPU µs, blocking µs)",
}

# --- data -----------------------------------------------------------------


def header(csv_path):
    """The '# key: value' lines at the top of a raw results file."""
    meta = {}
    with open(csv_path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("# "):
                break
            key, _, val = line[2:].rstrip("\n").partition(": ")
            meta[key.rstrip(":")] = val
    return meta


class Medians:
    """What stats.awk says for one choice of rows, cols and values."""

    def __init__(self, csv_path, rows=None, cols=None, values=None):
        cmd = ["awk", "-F,", "-v", "mode=long"]
        if rows:
            cmd += ["-v", "rows=" + rows, "-v", "cols=" + (cols or "-"),
                    "-v", "values=" + ",".join(values)]
        cmd += ["-f", STATS_AWK, csv_path]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise ValueError(out.stderr.strip() or "stats.awk failed")
        self.meta, lines = {}, []
        for line in out.stdout.splitlines():
            if line.startswith("# "):
                key, _, val = line[2:].partition(": ")
                self.meta[key.rstrip(":")] = val
            else:
                lines.append(line)
        self.cell = {}
        self.xs, self.series = [], []
        for r in csv.DictReader(lines):
            if r["row"] not in self.xs:
                self.xs.append(r["row"])
            if r["col"] not in self.series:
                self.series.append(r["col"])
            if r["median"] != "":
                self.cell[r["row"], r["col"], r["value"]] = (
                    float(r["median"]), float(r["min"]), float(r["max"]))
        self.values = [v for v in self.meta.get("values", "").split(",") if v]
        units = self.meta.get("units", "").split(",")
        self.unit = dict(zip(self.values, units + [""] * len(self.values)))

    def get(self, x, series, value):
        return self.cell.get((x, series, value))


def number(s):
    """A key's value as a number: 64, 1K (1024), 1M; None if it is a name."""
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(s[-1:], 1)
    try:
        return float(s[:-1] if mult > 1 else s) * mult
    except ValueError:
        return None


def size_words(s):
    """1K -> 1 KiB, 64 -> 64 B (for the size key)."""
    if s[-1:] in "KMG" and number(s) is not None:
        return s[:-1] + " " + s[-1] + "iB"
    return s + " B"


def series_name(key, value):
    names = NAMES.get(key, {})
    if callable(names):
        return names(value)
    if isinstance(names, str):
        return names.format(value)
    return names.get(value, value)


# --- drawing --------------------------------------------------------------


def style(name, k):
    """Colour, marker and line of a series: its own, or the k-th of a cycle."""
    if name in STYLE:
        return STYLE[name]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return cycle[k % len(cycle)], "osD^v"[k % 5], "-"


def y_items(panel):
    """The panel's value columns as (name, legend, factor)."""
    items = []
    for y in panel.get("y", []):
        items.append(y if isinstance(y, tuple) else (y, None, 1))
    return items


def panel_series(panel, data):
    """[(label, style key, {x: (median, lo, hi)})] for one panel."""
    out = []
    if "ratio" in panel:
        a, b = panel["ratio"]
        pts = {}
        for x in data.xs:
            va, vb = data.get(x, "", a), data.get(x, "", b)
            if va and vb and vb[0] > 0:
                pts[x] = (va[0] / vb[0], va[0] / vb[0], va[0] / vb[0])
        return [(None, None, pts)]
    by = panel.get("by")
    for k, (value, label, factor) in enumerate(y_items(panel)):
        for s in data.series:
            if panel.get("only") and s not in panel["only"]:
                continue
            if isinstance(label, dict) and s not in label:
                continue
            pts = {}
            for x in data.xs:
                c = data.get(x, s, value)
                if c:
                    pts[x] = tuple(v * factor for v in c)
            if pts and isinstance(label, dict):
                out.append((label[s], value + ":" + s, pts))
            elif pts:
                name = series_name(by, s) if by else label
                out.append((name, s if by else value, pts))
    return out


def x_positions(xs, kind):
    """Where each x value goes: its number, or its index for bars."""
    nums = [number(x) for x in xs]
    if kind == "lines" and all(v is not None for v in nums):
        return dict(zip(xs, nums)), True
    return {x: i for i, x in enumerate(xs)}, False


def tick_label(key, x):
    if key == "size":
        return size_words(x)
    return TICKS.get(x, x.replace("_", " "))


def draw_lines(ax, series, pos):
    for k, (label, key, pts) in enumerate(series):
        xs = sorted(pts, key=lambda x: pos[x])
        med = [pts[x][0] for x in xs]
        err = [[m - pts[x][1] for m, x in zip(med, xs)],
               [pts[x][2] - m for m, x in zip(med, xs)]]
        color, marker, line = style(key, k)
        ax.errorbar([pos[x] for x in xs], med, yerr=err, color=color,
                    marker=marker or None, linestyle=line, capsize=3,
                    markersize=5, linewidth=1.5, label=label)


def draw_bars(ax, panel, series, pos, stacked):
    width = 0.8 / (1 if stacked else max(len(series), 1))
    bottom = {}
    for k, (label, key, pts) in enumerate(series):
        xs = [x for x in pos if x in pts]
        off = 0 if stacked else (k - (len(series) - 1) / 2) * width
        at = [pos[x] + off for x in xs]
        med = [pts[x][0] for x in xs]
        base = [bottom.get(x, 0) if stacked else 0 for x in xs]
        color = style(key, k)[0] if len(series) > 1 else "tab:blue"
        if stacked and k > 0:
            color, hatch = "white", "//"
        else:
            hatch = None
        kw = {}
        if not (stacked and k > 0) and any(pts[x][1] != pts[x][2] for x in xs):
            kw = dict(yerr=[[m - pts[x][1] for m, x in zip(med, xs)],
                            [pts[x][2] - m for m, x in zip(med, xs)]],
                      capsize=3)
        bars = ax.bar(at, med, width=width * 0.95, bottom=base, color=color,
                      edgecolor="black", linewidth=0.5, hatch=hatch,
                      label=label, **kw)
        if panel.get("labels"):
            label_bars(ax, bars, med, panel["labels"])
        for x, m in zip(xs, med):
            bottom[x] = bottom.get(x, 0) + m


def label_bars(ax, bars, values, suffix):
    """Each bar's value on top of it (suffix: a unit, or True for none)."""
    suffix = suffix if isinstance(suffix, str) else ""
    for bar, v in zip(bars, values):
        top = (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height())
        ax.annotate(short_number(v) + suffix, top, ha="center", va="bottom",
                    fontsize=7, xytext=(0, 2), textcoords="offset points")


def short_number(v):
    """3 significant digits, whole numbers from 100 up (as the tables)."""
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return "%d" % round(v)
    return ("%." + str(max(0, 2 - int(math.floor(math.log10(abs(v)))))) + "f") % v


def plain_ticks(v, _pos):
    """Ticks as plain numbers: 1,000 and 100,000, not 10^3 or 1e5."""
    return "{:,}".format(int(v)) if v >= 1 and v == int(v) else "%g" % v


def overlap_note(series, _data):
    """'... within X% of each other at every N' for the concurrent models."""
    conc = [(label, pts) for label, key, pts in series if key in CONCURRENT]
    if len(conc) < 2:
        return None
    worst = 0.0
    for x in conc[0][1]:
        meds = [pts[x][0] for _, pts in conc if x in pts]
        if len(meds) > 1 and min(meds) > 0:
            worst = max(worst, max(meds) / min(meds) - 1)
    return ("%s: within %.1f%% of each other at every N, so their lines "
            "overlap" % (", ".join(CONCURRENT), 100 * worst))


def failed_note(_series, data):
    """How many connections failed, from the table's conn_failed column."""
    worst = [c[0] for (x, s, v), c in data.cell.items() if v == "conn_failed"]
    if not worst:
        return None
    if max(worst) == 0:
        return "no connection failed, at any N"
    return "failed connections: up to %s in a cell" % short_number(max(worst))


def copied_note(series, _data):
    """The share of zero-copy sends the kernel copied anyway (its range)."""
    shares = [p[0] for _, _, pts in series for p in pts.values()]
    if not shares:
        return None
    low, high = short_number(min(shares)), short_number(max(shares))
    share = low + "%" if low == high else "%s%% to %s%%" % (low, high)
    return ("%s of the zero-copy sends copied anyway (medians), at every "
            "size, on every link" % share)


# What a panel's `note` computes from its data (a note states a measured
# fact, so it is computed, never typed).
NOTES = {"overlap": overlap_note, "failed": failed_note, "copied": copied_note}


def draw_panel(ax, panel, csv_path):
    """Draw one panel; return its series (for the legend and the y scale)."""
    by = panel.get("by")
    values = [v for v, _, _ in y_items(panel)] + list(panel.get("ratio", ()))
    if panel.get("note") == "failed":
        values.append("conn_failed")
    data = Medians(csv_path, panel["x"], by, values)
    data.xs = [x for x in data.xs if x not in panel.get("skip", ())]
    series = panel_series(panel, data)
    if not series:
        raise ValueError("no data for %s" % ",".join(values))
    kind = panel["kind"]
    pos, numeric = x_positions(data.xs, kind)
    if kind == "lines":
        draw_lines(ax, series, pos)
    else:
        draw_bars(ax, panel, series, pos, kind == "stacked")
    log_x = numeric and panel.get("xscale") == "log"
    if log_x:
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    at = sorted(pos[x] for x in data.xs)
    crowded = numeric and not log_x and len(at) > 2 and min(
        b - a for a, b in zip(at, at[1:])) < 0.06 * (at[-1] - at[0])
    if not crowded:  # else matplotlib's own round ticks
        ticked = [x for x in data.xs if x in panel.get("xticks", data.xs)]
        ax.set_xticks([pos[x] for x in ticked])
        ax.set_xticklabels([tick_label(panel["x"], x) for x in ticked],
                           fontsize=None if numeric else 8)
    xl = panel.get("xlabel", XLABEL.get(panel["x"], panel["x"]))
    ax.set_xlabel(xl + (" (log scale)" if xl and log_x else ""))
    ax.set_ylabel(panel.get("ylabel", ""))
    if panel.get("ref") == "proportional":
        draw_proportional(ax, series[0], pos)
    if panel.get("vline"):
        ax.axvline(panel["vline"][0], color="gray", linestyle=":",
                   linewidth=1.5, label=panel["vline"][1])
    if panel.get("title"):
        ax.set_title(panel["title"], fontsize=9)
    ax.grid(True, alpha=0.3)
    note = NOTES[panel["note"]](series, data) if panel.get("note") else None
    if note:
        ax.text(0.02, 0.98, "\n".join(textwrap.wrap(note, 45)),
                transform=ax.transAxes, va="top", ha="left", fontsize=7.5,
                bbox=dict(facecolor="white", alpha=0.85, edgecolor="none"))
    return series


def draw_proportional(ax, first_series, pos):
    """A wide pale line through 0 and the first point: what 'grows in
    proportion to N' looks like, under the measured line."""
    _, _, pts = first_series
    xs = sorted(pts, key=lambda x: pos[x])
    slope = pts[xs[0]][0] / pos[xs[0]]
    ends = [0, pos[xs[-1]]]
    ax.plot(ends, [slope * e for e in ends], color="gray", alpha=0.35,
            linewidth=5, zorder=0, solid_capstyle="butt",
            label="proportional to N (through the first point)")
    ax.set_xlim(left=0)


def set_y(axes, panels, series_of):
    """Scales and limits once every panel is drawn (panels may share y)."""
    everything = [p[0] for series in series_of for _, _, pts in series
                  for p in pts.values() if p[0] > 0]
    for ax, panel, series in zip(axes, panels, series_of):
        meds = [p[0] for _, _, pts in series for p in pts.values() if p[0] > 0]
        scale = panel.get("yscale", "linear")
        if scale == "auto":
            wide = everything and max(everything) / min(everything) >= 50
            scale = "log" if wide else "linear"
        ax.set_yscale(scale)
        ax.yaxis.set_major_formatter(FuncFormatter(plain_ticks))
        if scale == "log":
            if panel["kind"] != "lines" and meds:
                # Bars need a floor: a decade under the smallest; and room
                # above for their labels.
                ax.set_ylim(10 ** math.floor(math.log10(min(meds)) - 0.3),
                            max(meds) * 4)
        elif panel.get("ylim"):
            ax.set_ylim(*panel["ylim"])
        elif not panel.get("zoom"):
            ax.relim()
            ax.autoscale_view()
            ax.set_ylim(bottom=0)


def legend_for(fig, axes, legend_ax, legend_title, bottom_in, spec_legend):
    """One legend for the figure: in its own panel, under the panels, or
    inside the only panel."""
    labels = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label and label not in labels:
                labels[label] = h
    if not labels:
        return
    if legend_ax is not None:
        legend_ax.axis("off")
        legend_ax.legend(labels.values(), labels.keys(), loc="center",
                         fontsize=7.5, frameon=False,
                         title=legend_title,
                         title_fontsize=7.5)
    elif len(axes) > 1:
        fig.legend(labels.values(), labels.keys(), loc="lower center",
                   bbox_to_anchor=(0.5, bottom_in / fig.get_figheight()),
                   ncol=legend_columns(labels), fontsize=8, frameon=False)
    else:
        axes[0].legend(labels.values(), labels.keys(), fontsize=8,
                       **spec_legend)


def legend_columns(labels):
    return 2 if max(len(label) for label in labels) > 30 else min(3, len(labels))


def footer(meta):
    machine = ", ".join(meta[k] for k in ("machine", "cpu") if meta.get(k))
    if meta.get("cores"):
        machine += ", %s cores" % meta["cores"]
    bits = ["machine: " + machine] if machine else []
    if meta.get("profile"):
        bits.append("profile " + meta["profile"])
    runs = meta.get("runs")
    bits.append("median of %s runs, bars from min to max" % runs if runs
                else "median of the ok runs, bars from min to max")
    return "; ".join(bits)


FOOTER_IN = 0.25        # the machine line at the bottom
LEGEND_ROW_IN = 0.2     # one row of a legend under the panels


def plot_spec(spec, csv_path, png_path, meta):
    rows, cols = spec["grid"]
    panels = spec["panels"]
    height = {1: 4.3 if cols == 1 else 4.4, 2: 6.6}.get(rows, 3.3 * rows)
    fig, grid = plt.subplots(rows, cols, figsize=(WIDTH_IN, height),
                             sharey=spec.get("sharey", False), squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax in axes[len(panels) + (1 if spec.get("legend_panel") else 0):]:
        ax.set_visible(False)
    series_of = [draw_panel(ax, panel, csv_path)
                 for ax, panel in zip(axes, panels)]
    set_y(axes, panels, series_of)
    if spec.get("sharey"):
        for ax in axes[1:len(panels)]:
            ax.set_ylabel("")
            ax.tick_params(labelleft=True)
    legend_ax = axes[len(panels)] if spec.get("legend_panel") else None
    # Several panels without a legend cell: the legend goes under them.
    names = {label for ax in axes[:len(panels)]
             for label in ax.get_legend_handles_labels()[1] if label}
    legend_in = 0
    if len(panels) > 1 and legend_ax is None and names:
        rows = math.ceil(len(names) / legend_columns(names))
        legend_in = LEGEND_ROW_IN * rows + 0.1
    legend_for(fig, axes[:len(panels)], legend_ax, spec.get("legend_panel"),
               FOOTER_IN, panels[0].get("legend", {}))
    finish(fig, meta, FOOTER_IN + legend_in)
    fig.savefig(png_path, dpi=DPI)
    plt.close(fig)


def finish(fig, meta, bottom_in):
    """Title on top, machine and statistics at the bottom, room for both."""
    height = fig.get_figheight()
    title = "\n".join(textwrap.wrap(meta.get("title", ""), 90))
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    fig.text(0.99, 0.06 / height, footer(meta), ha="right", va="bottom",
             fontsize=7, alpha=0.7)
    # tight_layout leaves room for the title itself (matplotlib >= 3.3).
    fig.tight_layout(rect=(0, bottom_in / height, 1, 1))


def plot_plain(csv_path, png_path, meta):
    """A table FIGURES does not list: x the rows key, one line per cols
    value (or per value column with the unit of the first), y the first
    value column."""
    data = Medians(csv_path)
    if not data.values or not data.xs:
        raise ValueError("nothing to plot")
    has_cols = data.meta.get("cols", "") != ""
    first = data.values[0]
    if has_cols:
        y, by = [first], data.meta["cols"]
    else:
        y = [(v, v, 1) for v in data.values if data.unit[v] == data.unit[first]]
        by = None
    nums = [number(x) for x in data.xs]
    kind = "lines" if all(v is not None for v in nums) else "bars"
    log = kind == "lines" and min(nums) > 0 and max(nums) / min(nums) >= 16
    u = data.unit[first]
    name = first if has_cols or len(y) == 1 else "value"
    panel = dict(kind=kind, x=data.meta.get("rows", ""), by=by, y=y,
                 ylabel=name + (" (%s)" % UNIT_WORDS.get(u, u) if u else ""))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.8))
    series = panel_series(panel, data)
    pos, _ = x_positions(data.xs, kind)
    if kind == "lines":
        draw_lines(ax, series, pos)
        if log:
            ax.set_xscale("log")
    else:
        draw_bars(ax, panel, series, pos, False)
        ax.set_xticks(range(len(data.xs)))
        ax.set_xticklabels(data.xs)
    ax.set_xlabel(panel["x"])
    ax.set_ylabel(panel["ylabel"])
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if not series:
        ax.text(0.5, 0.5, "no ok run: nothing measured to draw",
                transform=ax.transAxes, ha="center", va="center")
    elif len(series) > 1 or has_cols:
        ax.legend(title=data.meta.get("cols") or None, fontsize=8)
    finish(fig, meta, FOOTER_IN)
    fig.savefig(png_path, dpi=DPI)
    plt.close(fig)


def plot(csv_path, png_path):
    meta = header(csv_path)
    spec = FIGURES.get(meta.get("table", ""))
    if spec:
        try:
            plot_spec(spec, csv_path, png_path, meta)
            return
        except (ValueError, KeyError, ZeroDivisionError) as e:
            # An older or partial table: say so and draw it plainly.
            plt.close("all")
            print("plot: %s: %s; drawn plainly" % (png_path, e), file=sys.stderr)
    plot_plain(csv_path, png_path, meta)


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        print("usage: plot.py TABLE.csv PNG [TABLE.csv PNG ...]", file=sys.stderr)
        return 2
    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9,
                         "axes.labelsize": 9, "legend.fontsize": 8})
    ok = True
    for i in range(1, len(argv), 2):
        try:
            plot(argv[i], argv[i + 1])
            print("wrote %s" % argv[i + 1])
        except Exception as e:  # one bad table must not stop the others
            print("plot: %s: %s" % (argv[i + 1], e), file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
