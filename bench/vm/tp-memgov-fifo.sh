#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 360
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (d), warm, with [memory] order = fifo: what largest-first admission and its
# head-of-line rule are worth on this workload (the same training batch, the same policy else).
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_memgov memgov-fifo yes fifo
