# SPDX-License-Identifier: MIT
# libmemgov.a: everything but main(), so the CLI, the tests and the fuzz targets link the same code.
noinst_LIBRARIES += libmemgov.a
libmemgov_a_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(CJSON_CFLAGS) $(CGROUP_CFLAGS)
libmemgov_a_SOURCES = \
	common/macro.h common/json-util.h \
	common/log.c common/log.h \
	common/parse.c common/parse.h \
	common/fileio.c common/fileio.h \
	common/time-util.c common/time-util.h \
	common/strv.c common/strv.h

MEMGOV_LIBS = libmemgov.a $(INIH_LIBS) $(CJSON_LIBS) $(SQLITE_LIBS) $(CURL_LIBS) $(SECCOMP_LIBS) \
	$(CGROUP_LIBS) $(SYSTEMD_LIBS) -lm
