# bench.mk — `make bench`: relayd against Postfix and the direct ceiling
# (included by the Makefile). bench/README.md says how to read the results.
#
#   make bench                  full run: the matrix (≈ 14 minutes) and the
#                               backlog section at N = 100,000 (≈ BACKLOG_MIN):
#                               writes bench/results.md and bench/results.json
#   make bench BENCH_QUICK=1    smoke test with tiny counts (< 1 minute):
#                               writes $(B)/bench/results.md instead
#   make bench BENCH_ARGS="--sites-only"
#                               only the sites cell (≈ 1 minute): 1,000 domains
#                               behind one MX host set, destination_by domain
#                               versus mx (dnsmasq answers for them)
#   make bench BENCH_ARGS="--fleet-only"
#                               only the fleet cell (≈ 4 minutes): 1 relayd
#                               without and with a cluster section, 3 nodes on
#                               one redis-server, one limit-free destination
#   make bench BENCH_ARGS="--tls-only"
#                               only the TLS cells (≈ 20 minutes): STARTTLS out
#                               and in+out, ECDSA and RSA, TLS 1.3 and 1.2,
#                               with bench/tools' smtpload and smtpsink
#   make bench BENCH_ARGS="--backlog-only --backlog 1000000"
#                               only the backlog section, at a million queued
#                               messages (hours; refused without the disk:
#                               --backlog-check says what it needs)
#   make bench-profile          perf (or callgrind) and strace on relayd at
#                               1 KiB c=50: writes bench/profile.md
#                               (with BENCH_QUICK=1: $(B)/bench/profile.md)
#   make bench BENCH_ARGS="--cells 1k:50:new --no-memory"   a part of it
#
# Needs root: Postfix starts as root and smtp-sink runs with -u nobody. The
# missing Debian packages (postfix for smtp-source, smtp-sink and the private
# instance; strace; dnsmasq for the sites cell; redis-server for the fleet
# cell; linux-perf for bench-profile)
# are installed like
# `make test-deps` does; the system's /etc/postfix is never used.

BENCH_PKGS         := postfix strace dnsmasq-base redis-server
BENCH_PROFILE_PKGS := linux-perf valgrind
BENCH_ARGS         ?=
BENCH_OUT          := $(if $(filter 1,$(BENCH_QUICK)),--quick --out $(B)/bench)

.PHONY: bench bench-profile

bench:
	@sh tests/deps.sh $(BUILD_PKGS) $(BENCH_PKGS)
	$(MAKE) all
	/usr/bin/python3 bench/bench.py --relayd $(B)/relayd $(BENCH_OUT) $(BENCH_ARGS)

bench-profile:
	@sh tests/deps.sh $(BUILD_PKGS) $(BENCH_PKGS) $(BENCH_PROFILE_PKGS)
	$(MAKE) all
	/usr/bin/python3 bench/bench.py --relayd $(B)/relayd --profile $(BENCH_OUT) $(BENCH_ARGS)
