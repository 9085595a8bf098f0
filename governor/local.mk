# SPDX-License-Identifier: MIT
libmemgov_a_SOURCES += \
	governor/memstat.c governor/memstat.h \
	governor/discover.c governor/discover.h \
	governor/psi.c governor/psi.h \
	governor/layout.c governor/layout.h \
	governor/sampler.c governor/sampler.h \
	governor/cgsetup.c governor/cgsetup.h

GOVERNOR_TESTS = tests/test-memstat tests/test-discover tests/test-psi tests/test-layout tests/test-sampler
check_PROGRAMS += $(GOVERNOR_TESTS)
TESTS += $(GOVERNOR_TESTS)
tests_test_memstat_LDADD = $(TEST_LIBS)
tests_test_discover_LDADD = $(TEST_LIBS)
tests_test_psi_LDADD = $(TEST_LIBS)
tests_test_layout_LDADD = $(TEST_LIBS)
tests_test_sampler_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-memstat
TESTS += tests/fuzz/fuzz-memstat
tests_fuzz_fuzz_memstat_SOURCES = tests/fuzz/fuzz-memstat.c tests/fuzz/fuzz-main.c
tests_fuzz_fuzz_memstat_LDADD = $(MEMGOV_LIBS)
