# SPDX-License-Identifier: MIT
# The ledger (SQLite), the episode state machine and manifest parsing (cJSON).
libmemgov_a_SOURCES += \
	runner/state.c runner/state.h \
	runner/ledger.c runner/ledger.h runner/ledger-internal.h runner/ledger-runs.c \
	runner/manifest.c runner/manifest.h
libmemgov_a_CFLAGS += $(SQLITE_CFLAGS)

LEDGER_TESTS = \
	tests/test-state \
	tests/test-ledger \
	tests/test-manifest
check_PROGRAMS += $(LEDGER_TESTS)
TESTS += $(LEDGER_TESTS)
tests_test_state_LDADD = $(TEST_LIBS)
tests_test_ledger_LDADD = $(TEST_LIBS)
tests_test_manifest_LDADD = $(TEST_LIBS)

# Fuzz target for the manifest parser; replays tests/fuzz/corpus/manifest/ under 'make check'
# (the corpus folder is already in EXTRA_DIST through tests/fuzz/corpus).
check_PROGRAMS += tests/fuzz/fuzz-manifest
TESTS += tests/fuzz/fuzz-manifest
tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz-manifest.c tests/fuzz/fuzz-main.c
tests_fuzz_fuzz_manifest_LDADD = $(MEMGOV_LIBS)
