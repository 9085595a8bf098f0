#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 1536
# vm-timeout: 300
# vm-service: memory.max=1G memory.swap.max=0
#
# Throughput strategy (d), cold: memgov with a fresh ledger, so the first five transcriptions run
# on the policy's seed estimate (640M) until the estimator has learned peak against input size.
. /vm/lib.sh
. /vm/scenarios/throughput.inc
tp_memgov memgov-cold no
