# SPDX-License-Identifier: MIT
# The daemon's control socket (server and client), the metrics file and the client verbs.
libmemgov_a_SOURCES += \
	runner/control.c runner/control-client.c runner/control.h \
	runner/metrics.c runner/metrics.h

# submit, status, list, show, retry, cancel, release (cli/local.mk comes first, so += works here).
memgov_SOURCES += cli/client.c

CONTROL_TESTS = tests/test-control tests/test-metrics
check_PROGRAMS += $(CONTROL_TESTS) tests/helpers/control-stub
TESTS += $(CONTROL_TESTS) tests/test-client.sh
tests_test_control_LDADD = $(TEST_LIBS)
tests_test_metrics_LDADD = $(TEST_LIBS)
# A stand-in daemon for tests/test-client.sh: the real server with canned replies.
tests_helpers_control_stub_SOURCES = tests/helpers/control-stub.c
tests_helpers_control_stub_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/test-client.sh
