#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns one bench/run's measurements into REPORT.md and gnuplot PNGs (issue 10).

    bench/report.py --workload DIR --data DIR [--footprint FILE] --out DIR

--data is what tests/vm/run --data wrote (one folder per VM scenario), --workload what
bench/workload.py wrote, --footprint the section bench/footprint.sh wrote. Writes OUT/REPORT.md,
OUT/headline.md (the README's table) and OUT/*.png. Missing parts are reported as missing, never
filled in.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload  # noqa: E402

STRATEGIES = [
    ("tp-serial", "(a) serial: GNU parallel -j1"),
    ("tp-static4", "(b) static concurrency 4: parallel -j4"),
    ("tp-parallel", "(c) GNU parallel -j4 --memfree 600M"),
    ("tp-memgov", "(d) memgov, cold (fresh ledger)"),
    ("tp-memgov-warm", "(d) memgov, warm (estimates learned)"),
    ("tp-memgov-fifo", "(d) memgov, warm, order = fifo"),
]
MIB = 1024 * 1024


def read_kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep:
                    out[k] = v
    except OSError:
        return None
    return out


def read_mem(path):
    """(t0_realtime_us, [(seconds, current_mib, anon_mib, file_mib)])"""
    t0, rows = None, []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if p[:2] == ["#", "t0_realtime_us"]:
                    t0 = int(p[2])
                elif len(p) == 4:
                    rows.append((int(p[0]) / 1000, int(p[1]) / MIB, int(p[2]) / MIB, int(p[3]) / MIB))
    except OSError:
        pass
    return t0, rows


def solo_durations(data):
    """Each job's run time when it ran alone: the serial strategy's joblog, by job id."""
    out = {}
    try:
        with open(os.path.join(data, "tp-serial", "joblog.txt")) as f:
            next(f)
            for line in f:
                p = line.rstrip("\n").split("\t")
                m = re.search(r"/([jw]\d+)\.wav", p[-1])
                if m and p[6] == "0":
                    out[m.group(1)] = float(p[3])
    except (OSError, StopIteration, IndexError):
        pass
    return out


def fmt_victims(v):
    if not v or v == "none":
        return "none"
    return ", ".join("%s ×%s" % tuple(x.split(":")) for x in v.split(","))


def plot(out, name, title, rows, budget_mib, png):
    """One strategy's samples, kept in NAME.dat for plot_all()."""
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        for r in rows:
            f.write("%.2f %.1f %.1f\n" % r[:3])
    script = """
set terminal pngcairo size 900,420 font 'sans,10'
set output '{png}'
set title "{title}"
set xlabel 'seconds'
set ylabel 'MiB'
set yrange [0:{ymax}]
set key top right
set grid
plot {budget} title 'budget (service memory.max)' with lines lw 2 dt 2 lc rgb '#c00000', \\
     '{dat}' using 1:2 title 'memory.current' with lines lw 1.5 lc rgb '#1f77b4', \\
     '{dat}' using 1:3 title 'anon' with lines lw 1 lc rgb '#2ca02c'
""".format(png=png, title=title.replace('"', "'"), ymax=int(budget_mib * 1.15), dat=dat, budget=budget_mib)
    return run_gnuplot(script)


def plot_all(out, series, budget_mib, png):
    """One panel per strategy, stacked on a shared time axis: overlaid, five jagged lines hide
    each other."""
    xmax = max(r[-1][0] for _, _, r in series if r)
    panels = []
    for name, label, rows in series:
        dat = os.path.join(out, name + ".dat")
        panels.append("""set title "{label}"
plot {budget} notitle with lines lw 2 dt 2 lc rgb '#c00000', \\
     '{dat}' using 1:2 notitle with lines lw 1.2 lc rgb '#1f77b4'""".format(
            label=label.replace('"', "'"), budget=budget_mib, dat=dat))
    script = """
set terminal pngcairo size 900,{h} font 'sans,9'
set output '{png}'
set multiplot layout {n},1 title 'Service cgroup memory.current (MiB) over time (s); dashed: the 1 GiB budget'
set xrange [0:{xmax}]
set yrange [0:{ymax}]
set ytics 512
set grid
set lmargin 8
{panels}
unset multiplot
""".format(png=png, h=150 * len(series) + 40, n=len(series), xmax=int(xmax + 1), ymax=int(budget_mib * 1.15),
           panels="\n".join(panels))
    return run_gnuplot(script)


def run_gnuplot(script):
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    except OSError as e:
        return "gnuplot: %s" % e
    return None if r.returncode == 0 else "gnuplot: " + r.stderr.strip().splitlines()[-1]


def throughput(args, lines, headline):
    jobs = []
    with open(os.path.join(args.workload, "jobs.txt")) as f:
        for line in f:
            jid, mib = line.split()
            jobs.append((jid, int(mib)))
    mibs = [m for _, m in jobs]
    budget_mib = 1024
    lb_nominal, parts = workload.lower_bound(mibs, budget_mib)
    solo = solo_durations(args.data)
    lb_measured = None
    if len(solo) == len(jobs):
        d = {jid: solo[jid] for jid, _ in jobs}
        area = sum(m * d[j] for j, m in jobs) / budget_mib
        big = sum(d[j] for j, m in jobs if m > budget_mib / 2)
        lb_measured = max(area, big, max(d.values()))
    lb = lb_measured or lb_nominal

    lines += ["## 1. Throughput under a 1 GiB budget", ""]
    lines += ["24 jobs, footprints drawn from 64-600 MiB with a fixed seed (bench/workload.py): %s MiB, "
              "%d MiB in all. Each job is bench/ramp: it touches its footprint linearly over 80%% of its "
              "run time and holds it for the rest; run time = 1.5 s + 7 s/GiB of footprint "
              "(%.1f s for all 24 one after another, by that model)." % (
                  ", ".join(str(m) for m in mibs), sum(mibs), sum(workload.run_seconds(m) for m in mibs)), ""]
    lines += ["Every strategy runs in a fresh `memgov.service` cgroup with `memory.max=1G` and "
              "`memory.swap.max=0` (systemd's `MemoryMax=1G`), in a qemu VM with 1.5 GiB of RAM and "
              "Debian's 6.1 kernel, one after another in the same boot.", ""]
    lines += ["**Lower bound.** No strategy can finish before max(Σ footprint × run time / budget, the "
              "total run time of the jobs over half the budget, which cannot overlap, the longest job), "
              "when every job is taken to hold its peak for its whole run, as an admission controller "
              "must assume. With the model's run times: %.1f s (area %.1f s, big jobs %.1f s)." % (
                  lb_nominal, parts["area"], parts["big"])]
    if lb_measured:
        lines += [" With each job's run time measured alone in the serial run of this same boot "
                  "(which includes emulation overhead): **%.1f s**; the ratios below use this one." % lb_measured]
    else:
        lines += [" The serial run's per-job times are missing, so the ratios use the model's bound."]
    lines += [""]

    rows, series, problems = [], [], []
    serial_makespan = None
    results = {}
    for name, label in STRATEGIES:
        kv = read_kv(os.path.join(args.data, name, "summary.txt"))
        if not kv:
            rows.append("| %s | not measured (no %s/summary.txt) | | | | | | |" % (label, name))
            continue
        results[name] = kv
        mk = float(kv["makespan_s"])
        if name == "tp-serial":
            serial_makespan = mk
        t0, mem = read_mem(os.path.join(args.data, name, "mem.txt"))
        peak_anon = max((r[2] for r in mem), default=0)
        budget = int(kv["budget_bytes"]) / MIB
        complete = kv["done"] == kv["jobs"]
        lost = "n/a: %d jobs lost" % (int(kv["jobs"]) - int(kv["done"]))
        rows.append("| %s | %s/%s | %.1f | %s | %s | %s | %.0f / %.0f MiB (anon %.0f) | %s |" % (
            label, kv["done"], kv["jobs"], mk, "%.2f×" % (mk / lb) if complete else lost,
            ("%.2f×" % (serial_makespan / mk) if serial_makespan else "–") if complete else lost,
            "%s (%s)" % (kv["oom_kills"], fmt_victims(kv.get("oom_victims"))) if kv["oom_kills"] != "0" else "0",
            int(kv["peak_bytes"]) / MIB, budget, peak_anon, kv["supervisor_survived"]))
        if mem:
            series.append((name, label, mem))
            err = plot(args.out, name, label, mem, budget, os.path.join(args.out, name + ".png"))
            if err:
                problems.append("%s: %s" % (name, err))
    table = ["| strategy | done | makespan (s) | × lower bound | speed-up vs serial | OOM kills (victims) "
             "| peak memory.peak / budget (peak anon) | supervisor survived |",
             "|---|---|---|---|---|---|---|---|"] + rows
    lines += table + [""]
    lines += ["OOM kills are the service cgroup's `memory.events` `oom_kill`; the victims are the process "
              "names in the kernel's \"Killed process\" lines. memgov's stages have "
              "`memory.oom.group=1`, so one stage death counts as two there (the `memgov transcribe` "
              "wrapper and ramp). `memory.peak` includes page cache, which the kernel reclaims at the "
              "limit; anon is what cannot be reclaimed without swap.", ""]
    lines += ["The supervisors of (b) and (c) survive because the kernel's OOM killer picks the largest "
              "process of the cgroup, a job every time here, and no one retries the killed jobs. As a "
              "systemd service with the default `OOMPolicy=stop`, (b) and (c) would have been stopped at "
              "the first kill, with every job in flight: the incident memgov was written for. The fifo row "
              "is memgov with `[memory] order = fifo`, to show what largest-first admission is worth.", ""]

    # Goals for memgov (the issue's).
    for name in ("tp-memgov", "tp-memgov-warm"):
        kv = results.get(name)
        if not kv:
            continue
        mk = float(kv["makespan_s"])
        goals = [
            ("supervisor survived", kv["supervisor_survived"] == "yes"),
            ("no OOM kill of a job that fits (all fit the budget alone)", kv["oom_kills"] == "0"),
            ("every job done", kv["done"] == kv["jobs"]),
            ("makespan ≤ 1.25 × lower bound (%.2f×)" % (mk / lb), mk <= 1.25 * lb),
        ]
        if serial_makespan:
            goals.append(("≥ 2× faster than serial (%.2f×)" % (serial_makespan / mk), serial_makespan / mk >= 2))
        lines += ["Goals, %s: %s" % (dict(STRATEGIES)[name], "; ".join(
            "%s %s" % ("met:" if ok else "**missed**:", g) for g, ok in goals)), ""]

    if series:
        err = plot_all(args.out, series, 1024, os.path.join(args.out, "throughput.png"))
        if err:
            problems.append("combined plot: " + err)
        lines += ["![memory over time, all strategies](throughput.png)", ""]
        for name, label, _ in series:
            lines += ["![%s](%s.png)" % (label, name)]
        lines += [""]
    for p in problems:
        lines += ["Plot problem: %s" % p, ""]

    headline.extend(table)
    headline.append("")
    headline.append("Lower bound %.1f s (each job's time measured alone in the same boot). "
                    "Same 24 jobs (64-600 MiB), 1 GiB service cgroup, 1.5 GiB VM." % lb)


def section(path, title):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return ["## %s" % title, "", "Not measured in this run (%s is missing)." % path, ""]
    return [text, ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--footprint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    lines = ["# memgov benchmarks", ""]
    if args.meta:
        lines += [args.meta, ""]
    lines += ["Written by `bench/run`. The figures of a table come from one run, side by side (the "
              "throughput strategies share one boot). The machine is shared and noisy and the VM is "
              "emulated (qemu TCG): compare ratios within a table, not absolute times across runs.", ""]
    headline = []
    throughput(args, lines, headline)
    lines += section(os.path.join(args.data, "reaction", "reaction.md"), "2. Reaction")
    lines += section(os.path.join(args.data, "spawn", "spawn.md"), "3. Spawn")
    if args.footprint:
        lines += section(args.footprint, "4. Footprint")
    with open(os.path.join(args.out, "REPORT.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    with open(os.path.join(args.out, "headline.md"), "w") as f:
        f.write("\n".join(headline).rstrip() + "\n")


if __name__ == "__main__":
    main()
