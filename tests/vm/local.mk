# SPDX-License-Identifier: MIT
# Real-kernel tier (issue 3): tests/vm/run boots Debian's stock kernel under qemu (TCG) with a
# busybox initramfs and runs tests/vm/scenarios/*.sh on a pure cgroup v2 hierarchy; TAP out.
# It is not in TESTS (a boot costs ~10-20 s and a first run downloads the kernel): run it
# with 'make check-vm' or scripts/test, which call tests/vm/run (exit 77 = cannot run here).

# Guest-side helpers. Linked statically so the initramfs needs no libc, and built without the
# sanitizer flags of AM_CFLAGS: ASan cannot link statically, and these programs exist to be
# OOM-killed and throttled inside small cgroups, where shadow memory would distort the test.
VM_HELPERS = tests/vm/hog tests/vm/cgexec tests/vm/psi-wait
check_PROGRAMS += $(VM_HELPERS)
tests_vm_hog_SOURCES = tests/vm/helpers/hog.c
tests_vm_hog_CFLAGS = $(WARN_CFLAGS)
tests_vm_hog_LDFLAGS = -static
tests_vm_cgexec_SOURCES = tests/vm/helpers/cgexec.c
tests_vm_cgexec_CFLAGS = $(WARN_CFLAGS)
tests_vm_cgexec_LDFLAGS = -static
tests_vm_psi_wait_SOURCES = tests/vm/helpers/psi-wait.c
tests_vm_psi_wait_CFLAGS = $(WARN_CFLAGS)
tests_vm_psi_wait_LDFLAGS = -static

# A directory in EXTRA_DIST is copied whole: new scenario files need no edit here.
EXTRA_DIST += tests/vm/run tests/vm/init.sh tests/vm/lib.sh tests/vm/README.md tests/vm/scenarios

# The kernel cache lives in tests/vm/cache of the build tree and survives 'make clean' (it
# is a ~10 MB extract of a 70 MB download); 'make clean-vm' drops it.
check-vm: all $(VM_HELPERS)
	@MEMGOV_BUILDDIR='$(abs_top_builddir)' $(SHELL) -c '$(abs_top_srcdir)/tests/vm/run; rc=$$?; \
		test $$rc -eq 0 || test $$rc -eq 77'

clean-vm:
	-rm -rf tests/vm/cache

.PHONY: check-vm clean-vm
EXTRA_DIST += tests/vm/systemd
