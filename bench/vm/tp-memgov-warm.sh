#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 360
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (d), warm: memgov after an untimed batch of 8 other episodes, so the
# estimates are learned when the timed batch starts: a service that has been running a while.
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_memgov memgov-warm yes
