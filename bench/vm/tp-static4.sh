#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 300
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (b): a static concurrency of 4 and no per-job limits: the service's 1 GiB
# is the only limit, so the kernel's OOM killer decides who dies when four big jobs meet. No
# retries: a killed job is lost, as in a worker pool that logs the failure and moves on.
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_parallel static4 -j4
