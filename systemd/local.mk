# SPDX-License-Identifier: MIT
# The systemd unit, the sysusers.d and tmpfiles.d snippets, and the default policy installed
# without ever replacing an administrator's copy.

systemd_in = systemd/memgov.service.in systemd/memgov.sysusers systemd/memgov.tmpfiles
EXTRA_DIST += $(systemd_in) docs/OPERATIONS.md tests/test-systemd.sh
TESTS += tests/test-systemd.sh
CLEANFILES += systemd/memgov.service systemd/sysusers.d/memgov.conf systemd/tmpfiles.d/memgov.conf

# Paths are filled in at make time, not by configure, so `make prefix=…` stays consistent.
systemd/memgov.service: $(top_srcdir)/systemd/memgov.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && sed -e 's|@bindir[@]|$(bindir)|g' \
		-e 's|@sysconfdir[@]|$(sysconfdir)|g' $(top_srcdir)/systemd/memgov.service.in >$@.tmp && \
		mv $@.tmp $@

# sysusers.d and tmpfiles.d read only *.conf: install the snippets under that name.
systemd/sysusers.d/memgov.conf: $(top_srcdir)/systemd/memgov.sysusers
	$(AM_V_GEN)$(MKDIR_P) systemd/sysusers.d && cp $(top_srcdir)/systemd/memgov.sysusers $@
systemd/tmpfiles.d/memgov.conf: $(top_srcdir)/systemd/memgov.tmpfiles
	$(AM_V_GEN)$(MKDIR_P) systemd/tmpfiles.d && cp $(top_srcdir)/systemd/memgov.tmpfiles $@

# Built with `make all` so tests and `make install` find them.
noinst_DATA = systemd/memgov.service systemd/sysusers.d/memgov.conf systemd/tmpfiles.d/memgov.conf

if HAVE_UNITDIR
systemdsystemunit_DATA = systemd/memgov.service
endif
if HAVE_SYSUSERSDIR
sysusers_DATA = systemd/sysusers.d/memgov.conf
endif
if HAVE_TMPFILESDIR
tmpfiles_DATA = systemd/tmpfiles.d/memgov.conf
endif

# The policy goes to $(sysconfdir)/memgov/policy.ini only when there is none: an administrator's
# policy is never replaced. Uninstall removes it only while it is byte-identical to the shipped
# one, so a changed policy survives (and `make distcheck` still finds an empty tree).
mg_policy_dir = $(DESTDIR)$(sysconfdir)/memgov
install-data-hook: install-policy
install-policy:
	$(MKDIR_P) '$(mg_policy_dir)'
	@if test -e '$(mg_policy_dir)/policy.ini'; then \
		echo "keeping existing $(mg_policy_dir)/policy.ini"; \
	else \
		echo " $(INSTALL_DATA) $(srcdir)/policies/default.ini '$(mg_policy_dir)/policy.ini'"; \
		$(INSTALL_DATA) $(srcdir)/policies/default.ini '$(mg_policy_dir)/policy.ini'; \
	fi

uninstall-local: uninstall-policy
uninstall-policy:
	@if test -f '$(mg_policy_dir)/policy.ini'; then \
		if cmp -s $(srcdir)/policies/default.ini '$(mg_policy_dir)/policy.ini'; then \
			echo " rm -f '$(mg_policy_dir)/policy.ini'"; rm -f '$(mg_policy_dir)/policy.ini'; \
		else \
			echo "keeping $(mg_policy_dir)/policy.ini: it differs from the shipped policy"; \
		fi; \
	fi
	-@rmdir '$(mg_policy_dir)' 2>/dev/null || :

# distcheck installs as a normal user into a scratch prefix: keep the systemd files there too.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-sysusersdir='$${prefix}/lib/sysusers.d' \
	--with-tmpfilesdir='$${prefix}/lib/tmpfiles.d'

.PHONY: install-policy uninstall-policy
