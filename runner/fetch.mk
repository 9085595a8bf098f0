# SPDX-License-Identifier: MIT
# The fetch stage (issue 7): streaming download, format sniffing, SHA-256.
libmemgov_a_SOURCES += \
	runner/fetch.c runner/fetch-util.c runner/fetch.h \
	runner/sniff.c runner/sniff.h \
	runner/sha256.c runner/sha256.h

# The 'memgov fetch' verb (cli/local.mk comes first, so += works here).
memgov_SOURCES += cli/fetch.c

# Unit tests (SHA-256 vectors, sniffing, parsers). The program is not called tests/test-fetch:
# its log would collide with the shell test's (tests/test-fetch.log).
check_PROGRAMS += tests/test-fetch-unit
tests_test_fetch_unit_SOURCES = tests/test-fetch.c
tests_test_fetch_unit_LDADD = $(TEST_LIBS)

# Downloads against tests/http-server.py on 127.0.0.1 (needs python3).
TESTS += tests/test-fetch-unit tests/test-fetch.sh
EXTRA_DIST += tests/test-fetch.sh tests/http-server.py bench/fetch-bench.sh
