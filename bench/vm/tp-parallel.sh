#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 300
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (c): GNU parallel -j4 --memfree 600M. parallel starts a job only while the
# machine has 600M (the largest job) free, and kills the youngest job (to run it again later)
# when less than half of that is free. It reads /proc/meminfo: the machine's memory, not the
# service cgroup's budget.
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_parallel parallel-memfree -j4 --memfree 600M
