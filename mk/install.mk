# install.mk — `make install` and `make uninstall` (included by the Makefile).
#
#   make install   [PREFIX=/usr/local] [DESTDIR=]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]
#
# Installs:
#   $(PREFIX)/sbin/relayd, $(PREFIX)/sbin/relayctl                  0755
#   $(PREFIX)/share/man/man8/relayd.8, man8/relayctl.8, man5/relayd.conf.5  0644
#   $(PREFIX)/lib/systemd/system/relayd.service                     0644
#   /etc/relayd/relayd.conf.example                 0644, only if absent
#   /var/spool/relayd                               0700, only if absent
#
# The configuration and the spool are not under PREFIX: relayd reads
# /etc/relayd/relayd.conf unless given -f, and its spool defaults to
# /var/spool/relayd, so those paths do not move with PREFIX.
#
# The unit goes to $(PREFIX)/lib/systemd/system. For PREFIX=/usr/local that
# is /usr/local/lib/systemd/system, the directory systemd searches for units
# "installed by the administrator" (systemd.unit(5)); /lib/systemd/system
# belongs to Debian packages (dpkg), and Debian policy keeps locally built
# software under /usr/local. With PREFIX=/usr (a package build) the same
# rule gives /usr/lib/systemd/system, which is /lib/systemd/system on a
# merged-/usr system such as Debian 12. Override with SYSTEMDUNITDIR=.
#
# uninstall removes the binaries, man pages and unit, and the example
# configuration only while it is unchanged; it never touches relayd.conf or
# the spool (it may hold queued mail).

PREFIX         ?= /usr/local
DESTDIR        ?=
SBINDIR        ?= $(PREFIX)/sbin
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
CONFDIR        := /etc/relayd
SPOOLDIR       := /var/spool/relayd
INSTALL        ?= install

MANPAGES := man8/relayd.8 man8/relayctl.8 man5/relayd.conf.5

.PHONY: install uninstall

# The unit names the installed binary; the example configuration keeps its
# spool in /var/spool/relayd (the one the unit may write) instead of the
# ./var/spool that `make run` uses. Both are written at each install, so a
# change of PREFIX never installs a stale copy.
UNIT_SED := -e 's|/usr/local/sbin/|$(SBINDIR)/|g'
EXAMPLE_SED := -e 's|^spool = "./var/spool"|spool = "$(SPOOLDIR)"|' \
	-e 's|^\#control_socket = "./var/spool/control.sock"|\#control_socket = "$(SPOOLDIR)/control.sock"|'

install: $(B)/relayd $(B)/relayctl
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(CONFDIR)
	$(INSTALL) -m 0755 $(B)/relayd $(DESTDIR)$(SBINDIR)/relayd
	$(INSTALL) -m 0755 $(B)/relayctl $(DESTDIR)$(SBINDIR)/relayctl
	$(INSTALL) -m 0644 docs/relayd.8 $(DESTDIR)$(MANDIR)/man8/relayd.8
	$(INSTALL) -m 0644 docs/relayctl.8 $(DESTDIR)$(MANDIR)/man8/relayctl.8
	$(INSTALL) -m 0644 docs/relayd.conf.5 $(DESTDIR)$(MANDIR)/man5/relayd.conf.5
	sed $(UNIT_SED) conf/relayd.service >$(DESTDIR)$(SYSTEMDUNITDIR)/relayd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/relayd.service
	@if [ -e $(DESTDIR)$(CONFDIR)/relayd.conf.example ]; then \
		echo "$(DESTDIR)$(CONFDIR)/relayd.conf.example exists: not overwritten"; \
	else \
		echo "sed ... conf/relayd.conf.example >$(DESTDIR)$(CONFDIR)/relayd.conf.example"; \
		sed $(EXAMPLE_SED) conf/relayd.conf.example >$(DESTDIR)$(CONFDIR)/relayd.conf.example && \
		chmod 0644 $(DESTDIR)$(CONFDIR)/relayd.conf.example; \
	fi
	@if [ ! -e $(DESTDIR)$(SPOOLDIR) ]; then \
		echo "$(INSTALL) -d -m 0700 $(DESTDIR)$(SPOOLDIR)"; \
		$(INSTALL) -d -m 0700 $(DESTDIR)$(SPOOLDIR); \
	fi
	@if [ -z "$(DESTDIR)" ] && [ ! -e $(CONFDIR)/relayd.conf ]; then \
		echo "next: cp $(CONFDIR)/relayd.conf.example $(CONFDIR)/relayd.conf, edit it,"; \
		echo "      relayd -n, then systemctl daemon-reload && systemctl enable --now relayd"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/relayd $(DESTDIR)$(SBINDIR)/relayctl
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/,$(MANPAGES))
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/relayd.service
	@ex=$(DESTDIR)$(CONFDIR)/relayd.conf.example; \
	if [ -e $$ex ]; then \
		sed $(EXAMPLE_SED) conf/relayd.conf.example | cmp -s - $$ex \
		&& { echo "rm -f $$ex"; rm -f $$ex; } \
		|| echo "$$ex was changed: kept"; \
	fi
	-@rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@echo "kept: $(DESTDIR)$(CONFDIR)/relayd.conf (if any) and the spool $(DESTDIR)$(SPOOLDIR)"
