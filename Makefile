# relayd — build, run and test.
#
#   make          build build/relayd and build/relayctl
#   make run      install missing packages, build, run relayd in the foreground
#                 on conf/relayd.conf.example
#   make test     install missing test packages, build, run every unit and
#                 integration test; ends with one "N passed, N failed" line
#   make lint     clang-format check and cppcheck
#   make SANITIZE=1 ...   build with ASan + UBSan

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
PKGS    := libevent libevent_openssl openssl libconfuse libcares zlib hiredis
PKGCFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS  += -I. -D_GNU_SOURCE $(PKGCFLAGS)
LDLIBS    += $(PKGLIBS) -lcrypt -lpthread

# relayd allocates through jemalloc: with a million messages queued, glibc's
# malloc spends 15 % of the loop's time searching a heap of long-lived chunks
# interleaved with freed buffers (bench/README.md, "The million"); jemalloc's
# size-class slabs keep them apart. Sanitized builds keep the C library's
# malloc: ASan brings its own allocator.
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
B := build/san
MALLOCLIB :=
else
B := build
MALLOCLIB := -ljemalloc
endif

# Packages: what the build needs and what the tests need (Debian 12 names).
BUILD_PKGS := gcc make pkg-config libssl-dev libevent-dev libconfuse-dev libc-ares-dev zlib1g-dev \
              libhiredis-dev libjemalloc-dev
TEST_PKGS  := libcmocka-dev python3-pytest python3-aiosmtpd dnsmasq-base swaks postfix mandoc \
              testssl.sh libsisimai-perl pflogsumm groff-base man-db prometheus python3-yaml \
              nsd unbound ldnsutils redis-server

SRCS     := $(wildcard conf/*.c smtp/*.c tls/*.c relayd/*.c)
MAINS    := relayd/relayd.c relayd/relayctl.c
LIBSRCS  := $(filter-out $(MAINS),$(SRCS))
LIBOBJS  := $(LIBSRCS:%.c=$(B)/obj/%.o)
UNITSRCS := $(wildcard tests/unit/test_*.c)
UNITBINS := $(UNITSRCS:tests/unit/%.c=$(B)/tests/%)
# bench/tools/: smtpload and smtpsink, smtp-source and smtp-sink with STARTTLS
# (one file each; smtpload parses replies with smtp/reply.c).
TOOLSRCS := $(wildcard bench/tools/*.c)
TOOLBINS := $(TOOLSRCS:bench/tools/%.c=$(B)/bench/%)

.PHONY: all run test unit integration deps test-deps lint clean bench fuzz bench-tools

all: $(B)/relayd $(B)/relayctl

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(B)/librelayd.a: $(LIBOBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/relayd: $(B)/obj/relayd/relayd.o $(B)/librelayd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOCLIB)

$(B)/relayctl: $(B)/obj/relayd/relayctl.o $(B)/librelayd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/librelayd.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(B)/librelayd.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(TOOLBINS): $(B)/bench/%: $(B)/obj/bench/tools/%.o $(B)/librelayd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(TOOLBINS)

-include $(LIBOBJS:.o=.d) $(B)/obj/relayd/relayd.d $(B)/obj/relayd/relayctl.d
-include $(TOOLSRCS:%.c=$(B)/obj/%.d)

# Fragments for install, fuzz and bench targets.
-include $(wildcard mk/*.mk)

# The TLS cells run bench/tools' binaries (bench/tlscells.py finds them
# through RELAYD_BENCH_TOOLS).
bench: bench-tools
bench: export RELAYD_BENCH_TOOLS := $(abspath $(B)/bench)

# Missing Debian packages are installed when running as root; otherwise the
# exact apt-get line is printed and make stops.
deps:
	@sh tests/deps.sh $(BUILD_PKGS)

test-deps:
	@sh tests/deps.sh $(BUILD_PKGS) $(TEST_PKGS)

run: deps
	$(MAKE) all
	@mkdir -p var
	$(B)/relayd -d -f conf/relayd.conf.example

unit: $(UNITBINS)

test: test-deps
	$(MAKE) all unit bench-tools
	/usr/bin/python3 tests/run.py --build $(B)

lint:
	clang-format --dry-run --Werror $(SRCS) $(wildcard */*.h) $(UNITSRCS) $(TOOLSRCS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--suppress=missingIncludeSystem -I. \
		--suppress=ctunullpointer:smtp/client.c $(SRCS) $(TOOLSRCS)
# (ctunullpointer: cppcheck reads mta.c's `mc->cl &&` after client_input(),
# which a hook may have closed, as a hint that the pointer passed before it
# may be NULL; conn_read() runs only while the connection, and so mc->cl,
# exists.)

clean:
	rm -rf build
