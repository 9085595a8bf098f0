# SPDX-License-Identifier: MIT
# Admission-token arithmetic and learned estimates: pure functions, table-tested.
libmemgov_a_SOURCES += \
	governor/tokens.c governor/tokens.h \
	governor/estimate.c governor/estimate.h

check_PROGRAMS += tests/test-tokens tests/test-estimate
TESTS += tests/test-tokens tests/test-estimate
tests_test_tokens_LDADD = $(TEST_LIBS)
tests_test_estimate_LDADD = $(TEST_LIBS)
