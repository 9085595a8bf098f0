# SPDX-License-Identifier: MIT
libmemgov_a_SOURCES += \
	policies/policy.c policies/policy.h \
	policies/policy-internal.h \
	policies/policy-table.c \
	policies/policy-check.c

policydir = $(sysconfdir)/memgov
dist_doc_DATA = policies/default.ini policies/demo.ini policies/host-2g.ini
