#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host side of make bench: collect the "MMSB-CSV," lines the guest
printed (mmsb-bench, one per result) and the sections' exit markers.

  bench-report.py render --out DIR --floors FILE LOG...
      DIR/results.csv, table.md, table.rst, plot.dat, plot.gp and
      plot.png (gnuplot); prints table.md.
  bench-report.py guard --floors FILE --kernel K [--results FILE] LOG
      one "ok"/"not ok" line per ratio of FILE against its floor.

Exit status 1 if a section did not exit 0, a check failed, or (guard) a
ratio fell below its floor.
"""
import argparse
import csv
import os
import subprocess
import sys

# Mirrors BENCH_CSV_HEADER in userspace/bench.h.
COLUMNS = ("key,section,label,batch,depth,payload,pages,procs,deltas,ns,"
           "deltas_per_s,ns_per_delta,per_proc_per_s,p50_ns,p99_ns,check"
           ).split(",")


def parse(logs):
    """Rows (dicts, in order) and failures from the guest's output logs."""
    rows, failures = [], []
    for log in logs:
        with open(log, errors="replace") as f:
            lines = f.read().replace("\r", "").splitlines()
        ended = False
        for line in lines:
            if line.startswith("MMSB-CSV,"):
                vals = next(csv.reader([line[len("MMSB-CSV,"):]]))
                if len(vals) != len(COLUMNS):
                    failures.append(f"{log}: bad CSV line: {line}")
                    continue
                row = dict(zip(COLUMNS, vals))
                if row["check"] in ("MISMATCH", "split"):
                    failures.append(f"{row['key']}: check {row['check']}")
                rows.append(row)
            elif line.startswith("MMSB-EXIT "):
                words = line.split()
                if len(words) < 3 or words[2] != "0":
                    failures.append(f"{log}: {line}")
            elif line.startswith("MMSB-END"):
                ended = True
        if not ended:
            failures.append(f"{log}: the guest did not reach its end")
    return rows, failures


def read_floors(path):
    """(name, numerator key, denominator key, floor, target) per line."""
    ratios = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            name, num, den, floor, target = line
            ratios.append((name, num, den, float(floor),
                           None if target == "-" else float(target)))
    return ratios


def rate(by_key, key):
    row = by_key.get(key)
    return float(row["deltas_per_s"]) if row and row["deltas_per_s"] else None


def ratio_values(by_key, floors):
    out = []
    for name, num, den, floor, target in floors:
        a, b = rate(by_key, num), rate(by_key, den)
        out.append((name, num, den, a / b if a and b else None, floor, target))
    return out


def fmt_int(x):
    return f"{float(x):,.0f}" if x not in (None, "") else ""


def fmt_us(ns):
    return f"{float(ns) / 1e3:,.1f}" if ns not in (None, "") else ""


def fmt_ms(ns):
    return f"{float(ns) / 1e6:,.2f}" if ns not in (None, "") else ""


class Tables:
    """The same tables as Markdown and as reStructuredText."""

    def __init__(self):
        self.md, self.rst = [], []

    def heading(self, text):
        self.md += [f"### {text}", ""]
        self.rst += [text, "-" * len(text), ""]

    def para(self, text):
        self.md += [text, ""]
        self.rst += [text, ""]

    def table(self, head, body):
        self.md.append("| " + " | ".join(head) + " |")
        self.md.append("|" + "|".join(
            "---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for r in body:
            self.md.append("| " + " | ".join(r) + " |")
        self.md.append("")
        width = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        rule = "  ".join("=" * w for w in width)

        def line(cells):
            return "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(cells, width))).rstrip()
        self.rst += [rule, line(head), rule]
        self.rst += [line(r) for r in body]
        self.rst += [rule, ""]


def pwrite_key(row):
    """The memfd pwrite row with the same payload and pages."""
    if row["payload"] == "64" and row["pages"] == "64":
        return "pwrite"
    if row["payload"] != "64":
        return f"pwrite_len{row['payload']}"
    return f"pwrite_pages{row['pages']}"


def render(rows, floors, out, host_load):
    by_key = {r["key"]: r for r in rows}
    t = Tables()

    main = [r for r in rows if r["section"] in ("peers", "mmsb")]
    if main:
        t.heading("Peers and mmsb: 64-byte DENSE deltas over 64 pages "
                  "(icount: instructions = ns)")
        body = []
        for r in main:
            pw = rate(by_key, "pwrite")
            x = float(r["deltas_per_s"]) / pw if pw else None
            body.append([r["label"], fmt_int(r["deltas_per_s"]),
                         fmt_int(r["ns_per_delta"]),
                         f"{x:.2f}" if x else "", r["check"]])
        t.table(["path", "deltas/s", "instructions/delta", "x pwrite",
                 "check"], body)

    shape = [r for r in rows if r["section"] == "shape"]
    if shape:
        t.heading("Payload and page count (icount)")
        body = []
        for r in shape:
            pw = rate(by_key, pwrite_key(r))
            x = float(r["deltas_per_s"]) / pw if pw else None
            body.append([r["label"], r["payload"], r["pages"],
                         fmt_int(r["deltas_per_s"]),
                         fmt_int(r["ns_per_delta"]),
                         f"{x:.2f}" if x else "", r["check"]])
        t.table(["path", "payload B", "pages", "deltas/s",
                 "instructions/delta", "x pwrite (same shape)", "check"],
                body)

    tick = [r for r in rows if r["section"] == "tick"]
    if tick:
        t.heading("The seed's tick benchmark (icount)")
        t.para("20,000 DENSE deltas of 128 bytes at random offsets over 64 "
               "pages of 4 KiB chained by PASSTHROUGH edges 0 -> 1 -> ... -> "
               "63, all in one tick (tick_us=0, then MMSB_IOC_FLUSH).")
        # Deltas/s only where the time covers all the work.
        t.table(["figure", "ms", "deltas/s", "check"],
                [[r["label"], fmt_ms(r["ns"]),
                  fmt_int(r["deltas_per_s"])
                  if r["key"] in ("seed_tick", "seed_tick_e2e") else "",
                  r["check"]] for r in tick])

    cont = [r for r in rows if r["section"] == "contention"]
    if cont:
        t.heading("Contention (no icount: real TCG time, noisy)")
        if host_load:
            t.para(f"Host load average (1 min) before and after each "
                   f"boot: {host_load}.")
        t.table(["path", "producers", "total deltas/s",
                 "per producer deltas/s"],
                [[r["label"].rsplit(",", 1)[0], r["procs"],
                  fmt_int(r["deltas_per_s"]), fmt_int(r["per_proc_per_s"])]
                 for r in cont])

    for section, title in (
            ("latency-self", "Submit-to-visible latency, the writer polls "
             "(icount)"),
            ("latency", "Submit-to-visible latency, a reader on another "
             "CPU polls (no icount: real TCG time, noisy)")):
        lat = [r for r in rows if r["section"] == section]
        if lat:
            t.heading(title)
            t.table(["path", "samples", "p50 us", "p99 us"],
                    [[r["label"], r["deltas"], fmt_us(r["p50_ns"]),
                      fmt_us(r["p99_ns"])] for r in lat])

    ratios = [x for x in ratio_values(by_key, floors) if x[3] is not None]
    if ratios:
        t.heading("Ratios (tests/bench-floors: floor of the make check "
                  "guard, target of issue 13)")
        t.table(["ratio", "numerator / denominator", "measured", "floor",
                 "target"],
                [[n, f"{a} / {b}", f"{v:#.3g}", f"{fl:g}",
                  f"{tg:g}" if tg is not None else ""]
                 for n, a, b, v, fl, tg in ratios])

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(t.md))
    with open(os.path.join(out, "table.rst"), "w") as f:
        f.write("\n".join(t.rst))
    plot(rows, out)
    print("\n".join(t.md))


# Plot series: (title, keys, x of a row).  io_uring's x is the deltas in
# flight (depth times deltas per command).
SERIES = [
    ("mmsb ioctl, FLUSH at the end",
     [f"mmsb_ioctl_b{b}" for b in (1, 16, 64, 256, 4096)], "batch"),
    ("mmsb ioctl SYNC",
     [f"mmsb_sync_b{b}" for b in (1, 16, 64, 256, 4096)], "batch"),
    ("mmsb io_uring, 1 per command",
     [f"mmsb_uring_x1_d{d}" for d in (1, 16, 128)], "inflight"),
    ("mmsb io_uring, 16 per command",
     [f"mmsb_uring_x16_d{d}" for d in (1, 16, 128)], "inflight"),
    ("io_uring WRITE to a memfd",
     [f"uring_write_d{d}" for d in (1, 16, 128)], "inflight"),
    ("BPF array, 64 B values (ELEM, then BATCH)",
     ["bpf64_elem"] + [f"bpf64_batch{b}" for b in (16, 64, 256)], "batch"),
    ("BPF array, 4 KiB values (ELEM, then BATCH)",
     ["bpf4k_elem", "bpf4k_batch64"], "batch"),
]
LINES = [("memcpy under a seqlock (limit)", "memcpy"),
         ("io_uring NOP, depth 128", "nop_d128"),
         ("null ioctl", "null_ioctl"),
         ("memfd pwrite", "pwrite")]


def plot(rows, out):
    by_key = {r["key"]: r for r in rows}
    dat = os.path.join(out, "plot.dat")
    blocks = []
    with open(dat, "w") as f:
        for title, keys, xkind in SERIES:
            pts = []
            for k in keys:
                r = by_key.get(k)
                if not r or not r["deltas_per_s"]:
                    continue
                x = int(r["batch"]) * (int(r["depth"]) if xkind == "inflight"
                                       else 1)
                pts.append((x, float(r["deltas_per_s"])))
            if pts:
                f.write(f"# {title}\n")
                f.writelines(f"{x} {y:.0f}\n" for x, y in pts)
                f.write("\n\n")
                blocks.append(title)
    if not blocks:
        return
    plots = [f"'plot.dat' index {i} using 1:2 with linespoints lw 2 "
             f"title '{title}'" for i, title in enumerate(blocks)]
    for title, key in LINES:
        r = by_key.get(key)
        if r and r["deltas_per_s"]:
            plots.append(f"{float(r['deltas_per_s']):.0f} with lines dt 2 "
                         f"title '{title}'")
    gp = os.path.join(out, "plot.gp")
    with open(gp, "w") as f:
        f.write("""# make bench: deltas/s against batch size (gnuplot plot.gp)
set terminal pngcairo size 1000,800 font ',10' noenhanced
set output 'plot.png'
set title "mmsb and its peers: 64-byte DENSE deltas over 64 pages, one icount boot"
set xlabel 'deltas per call (ioctl, BPF) or in flight (io_uring)'
set ylabel 'deltas/s (applied and visible)'
set logscale xy
set xrange [0.8:6000]
set key below maxrows 6 height 1
set grid
plot """ + ", \\\n     ".join(plots) + "\n")
    try:
        subprocess.run(["gnuplot", "plot.gp"], cwd=out, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"# gnuplot failed: {e} (scripts/setup installs gnuplot-nox)",
              file=sys.stderr)


def guard(rows, floors, kernel, results):
    by_key = {r["key"]: r for r in rows}
    lines, bad = [], 0
    for name, num, den, value, floor, _ in ratio_values(by_key, floors):
        label = f"{kernel}:bench.ratio.{name}"
        if value is None:
            lines.append(f"not ok - {label} # {num} or {den} not measured")
            bad += 1
        elif value < floor:
            lines.append(f"not ok - {label} # {value:.4g} < floor {floor}")
            bad += 1
        else:
            lines.append(f"ok - {label} # {value:.4g} >= floor {floor}")
    for line in lines:
        print(line)
    if results:
        with open(results, "a") as f:
            f.write("".join(x + "\n" for x in lines))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("render", "guard"))
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--floors", required=True)
    ap.add_argument("--kernel", default="6.12")
    ap.add_argument("--results")
    ap.add_argument("--host-load", default="",
                    help="the host's load during the boots, for the "
                    "tables measured without icount")
    args = ap.parse_args()

    rows, failures = parse(args.logs)
    floors = read_floors(args.floors)
    status = 0
    if args.mode == "render":
        render(rows, floors, args.out, args.host_load)
    elif guard(rows, floors, args.kernel, args.results):
        status = 1
    for why in failures:
        line = f"not ok - {args.kernel}:bench.run # {why}"
        print(line)
        if args.results:
            with open(args.results, "a") as f:
                f.write(line + "\n")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
