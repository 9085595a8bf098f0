# SPDX-License-Identifier: MIT
dist_man_MANS += docs/memgov.8
man_MANS = docs/memgov.ini.5
EXTRA_DIST += docs/ARCHITECTURE.md docs/CODING_STYLE.md docs/ini2man.awk
CLEANFILES += docs/memgov.ini.5

docs/memgov.ini.5: $(top_srcdir)/policies/default.ini $(top_srcdir)/docs/ini2man.awk
	$(AM_V_GEN)$(MKDIR_P) docs && $(AWK) -v version=$(VERSION) -f $(top_srcdir)/docs/ini2man.awk \
		$(top_srcdir)/policies/default.ini >$@.tmp && mv $@.tmp $@
