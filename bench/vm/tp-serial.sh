#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 400
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (a): one job at a time, the old "concurrency = 1" fix. GNU parallel -j1
# supervises, so the three non-memgov strategies differ only in their options.
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_parallel serial -j1
