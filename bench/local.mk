# SPDX-License-Identifier: MIT
# bench/ (issue 10): bench/run measures memgov against the alternatives and writes a report; see
# bench/README.md. Nothing here runs in 'make check'.

# Guest-side programs of the VM bench scenarios (bench/vm). Static, like the VM test helpers, and
# without the sanitizer flags: they exist to use memory in a measured way.
BENCH_VM_BINS = bench/ramp bench/cgsample bench/reaction-trial
noinst_PROGRAMS += $(BENCH_VM_BINS)
bench_ramp_SOURCES = bench/ramp.c
bench_ramp_CFLAGS = $(WARN_CFLAGS)
bench_ramp_LDFLAGS = -static
bench_cgsample_SOURCES = bench/cgsample.c
bench_cgsample_CFLAGS = $(WARN_CFLAGS)
bench_cgsample_LDFLAGS = -static
bench_reaction_trial_SOURCES = bench/reaction-trial.c
bench_reaction_trial_CFLAGS = $(WARN_CFLAGS)
bench_reaction_trial_LDFLAGS = -static

EXTRA_DIST += bench/run bench/README.md bench/workload.py bench/report.py bench/vm bench/footprint.sh
