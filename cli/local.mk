# SPDX-License-Identifier: MIT
bin_PROGRAMS += memgov
memgov_SOURCES = cli/main.c cli/cli.h cli/util.c cli/check.c cli/probe.c cli/probe.h cli/probe-watch.c cli/setup.c cli/exec.c cli/run.c cli/daemon.c
memgov_LDADD = $(MEMGOV_LIBS)
memgov_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
