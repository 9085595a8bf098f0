# SPDX-License-Identifier: MIT
# Unit tier: every tests/test-*.c is a TAP program run by 'make check'.
check_LIBRARIES = tests/libtest.a
tests_libtest_a_SOURCES = tests/tap.c tests/tap.h tests/fake-tree.c tests/fake-tree.h

TEST_LIBS = tests/libtest.a $(MEMGOV_LIBS)

UNIT_TESTS = \
	tests/test-parse \
	tests/test-strv \
	tests/test-fileio \
	tests/test-policy \
	tests/test-fake-tree
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_test_parse_LDADD = $(TEST_LIBS)
tests_test_strv_LDADD = $(TEST_LIBS)
tests_test_fileio_LDADD = $(TEST_LIBS)
tests_test_policy_LDADD = $(TEST_LIBS)
tests_test_policy_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS)
tests_test_fake_tree_LDADD = $(TEST_LIBS)

# Command-line tests run the built binary.
TESTS += tests/test-cli.sh
# bench/'s workload, ramp and report (bench/run itself boots the VM: not part of check).
TESTS += tests/test-bench.sh
EXTRA_DIST += tests/test-bench.sh
EXTRA_DIST += tests/test-cli.sh tests/lib.sh tests/policies

# Fuzz targets: built as plain programs that replay their corpus under 'make check';
# tests/fuzz/run builds them with clang -fsanitize=fuzzer for real fuzzing.
FUZZ_TARGETS = tests/fuzz/fuzz-policy
check_PROGRAMS += $(FUZZ_TARGETS)
TESTS += $(FUZZ_TARGETS)
tests_fuzz_fuzz_policy_SOURCES = tests/fuzz/fuzz-policy.c tests/fuzz/fuzz-main.c
tests_fuzz_fuzz_policy_LDADD = $(MEMGOV_LIBS)
EXTRA_DIST += tests/fuzz/run tests/fuzz/corpus
