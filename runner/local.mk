# SPDX-License-Identifier: MIT
libmemgov_a_SOURCES += \
	runner/stagecg.c runner/stagecg.h \
	runner/result.c runner/result.h

RUNNER_TESTS = tests/test-stagecg tests/test-result
check_PROGRAMS += $(RUNNER_TESTS)
TESTS += $(RUNNER_TESTS)
tests_test_stagecg_LDADD = $(TEST_LIBS)
tests_test_result_LDADD = $(TEST_LIBS)
libmemgov_a_SOURCES += \
	runner/procscan.c runner/procscan.h \
	runner/supervise.c runner/supervise.h \
	runner/runtime.c runner/runtime.h
RUNNER_TESTS2 = tests/test-procscan tests/test-supervise
check_PROGRAMS += $(RUNNER_TESTS2)
TESTS += $(RUNNER_TESTS2)
tests_test_procscan_LDADD = $(TEST_LIBS)
tests_test_supervise_LDADD = $(TEST_LIBS)
libmemgov_a_SOURCES += \
	runner/scheduler.c runner/scheduler.h runner/scheduler-internal.h \
	runner/scheduler-admit.c runner/scheduler-done.c

# Batch tests with real stages: memgov run against a loopback HTTP server and a stand-in
# transcriber; the crash test SIGKILLs it 50 times on the way.
TESTS += tests/crash-test.sh tests/test-poison.sh
EXTRA_DIST += tests/crash-test.sh tests/test-poison.sh tests/batch-lib.sh
TESTS += tests/test-daemon.sh
EXTRA_DIST += tests/test-daemon.sh
