# SPDX-License-Identifier: MIT
bin_PROGRAMS += memgov
memgov_SOURCES = cli/main.c cli/cli.h cli/check.c
memgov_LDADD = $(MEMGOV_LIBS)
