# SPDX-License-Identifier: MIT
# Stage processes: clone3 into the stage cgroup (fork + cgroup.procs fallback), the sandbox set
# up in the child, and the seccomp denylist built in the parent.
libmemgov_a_SOURCES += \
	runner/spawn.c runner/spawn.h \
	runner/seccomp.c runner/seccomp.h

SANDBOX_TESTS = tests/test-spawn tests/test-seccomp
check_PROGRAMS += $(SANDBOX_TESTS)
TESTS += $(SANDBOX_TESTS)
SPAWN_TEST_UTIL = tests/helpers/spawn-util.c tests/helpers/spawn-util.h
tests_test_spawn_SOURCES = tests/test-spawn.c $(SPAWN_TEST_UTIL)
tests_test_spawn_LDADD = $(TEST_LIBS)
tests_test_seccomp_SOURCES = tests/test-seccomp.c $(SPAWN_TEST_UTIL)
tests_test_seccomp_LDADD = $(TEST_LIBS)

# Programs the tests run as stages. Built without the sanitizer flags of AM_CFLAGS: they run
# under the seccomp filter and as nobody, where the sanitizer runtimes' own system calls
# (LeakSanitizer's ptrace at exit, for one) would be denied and blur what is being tested.
SANDBOX_HELPERS = tests/helpers/try-syscall tests/helpers/list-fds
check_PROGRAMS += $(SANDBOX_HELPERS)
tests_helpers_try_syscall_SOURCES = tests/helpers/try-syscall.c
tests_helpers_try_syscall_CFLAGS = $(WARN_CFLAGS)
tests_helpers_try_syscall_LDFLAGS =
tests_helpers_list_fds_SOURCES = tests/helpers/list-fds.c
tests_helpers_list_fds_CFLAGS = $(WARN_CFLAGS)
tests_helpers_list_fds_LDFLAGS =

# Spawn latency against bare fork+exec; run by hand (see the program's header), not by check.
noinst_PROGRAMS += bench/spawn-bench
bench_spawn_bench_LDADD = $(MEMGOV_LIBS)
