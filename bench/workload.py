#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The throughput workload of bench/ (issue 10), the same on every run.

    bench/workload.py DIR

writes DIR/jobs.txt (24 timed jobs "ID MIB"), DIR/train.txt (8 training jobs for memgov's warm
run) and DIR/www/ID.wav for each: a valid 8 kHz mono WAV of MIB KiB, which bench/ramp turns into
a stand-in transcription of MIB MiB. Footprints are drawn uniformly from 64-600 MiB by a
Park-Miller generator with a fixed seed: no dependence on any library's random module.

The module also holds the workload's model (footprint and run time per job, as bench/ramp
computes them) and the bin-packing lower bound, for bench/report.py.
"""
import os
import struct
import sys

SEED = 20261129
TRAIN_SEED = 7
N_JOBS = 24
N_TRAIN = 8
MIN_MIB, MAX_MIB = 64, 600
# bench/ramp's defaults: run time = BASE_S + PER_GIB_S x footprint.
BASE_S, PER_GIB_S = 1.5, 7.0


def draw(seed, n):
    x = seed
    out = []
    for _ in range(n):
        x = x * 16807 % 2147483647
        out.append(MIN_MIB + int(x / 2147483647 * (MAX_MIB - MIN_MIB + 1)))
    return out


def run_seconds(mib):
    return BASE_S + PER_GIB_S * mib / 1024


def lower_bound(mibs, budget_mib):
    """The makespan no strategy can beat if every job holds its peak for its whole run (what an
    admission controller has to assume): the memory-time area over the budget, the jobs of more
    than half the budget one after another (no two fit together), and the longest job."""
    area = sum(m * run_seconds(m) for m in mibs) / budget_mib
    big = sum(run_seconds(m) for m in mibs if m > budget_mib / 2)
    longest = max(run_seconds(m) for m in mibs)
    return max(area, big, longest), {"area": area, "big": big, "longest": longest}


def wav(path, size):
    data = size - 44
    hdr = b"RIFF" + struct.pack("<I", size - 8) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", data)
    with open(path, "wb") as f:
        f.write(hdr)
        f.write(bytes(data))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench/workload.py DIR")
    d = sys.argv[1]
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    for name, prefix, mibs in (("jobs.txt", "j", draw(SEED, N_JOBS)),
                               ("train.txt", "w", draw(TRAIN_SEED, N_TRAIN))):
        with open(os.path.join(d, name), "w") as f:
            for i, m in enumerate(mibs):
                jid = "%s%02d" % (prefix, i)
                f.write("%s %d\n" % (jid, m))
                wav(os.path.join(d, "www", jid + ".wav"), m * 1024)


if __name__ == "__main__":
    main()
