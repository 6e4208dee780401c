# fuzz.mk — the libFuzzer harnesses of tests/fuzz/ (included by the Makefile).
#
#   make fuzz-build                 build every harness into build/fuzz/
#   make fuzz [FUZZ_SECONDS=60]     build, then run the harnesses one after
#                                   the other, each for FUZZ_SECONDS on a copy
#                                   of its seeds in build/fuzz/corpus-<target>
#   make fuzz FUZZ_TARGETS="fuzz_cmd fuzz_data"   only these
#
# Everything is built with clang and -fsanitize=fuzzer,address,undefined:
# smtp/*.c, conf/*.c and relayd/spool_fmt.c (pure: no libevent) are
# compiled again with the sanitizers and the coverage instrumentation
# (librelayd.a is built by $(CC) without them) into
# build/fuzz/librelayd-fuzz.a, from which each harness links what it uses,
# so a new file in smtp/ needs no change here. tests/fuzz/run.sh runs them,
# prints execs/s and the final cov/ft of each, keeps what is found in
# build/fuzz/ (never in the committed tests/fuzz/corpus/) and fails, with
# the path of the saved input, when a harness crashes, leaks or hangs.
# docs/fuzzing.md says what each harness checks.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_COMMON  := -g -O1 -I. -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
		$(shell pkg-config --cflags libconfuse 2>/dev/null)
FUZZ_ALL     := fuzz_server fuzz_client fuzz_cmd fuzz_reply fuzz_data fuzz_conf \
		fuzz_classify_dsn fuzz_spool_fmt fuzz_dnswire fuzz_mtasts
FUZZ_TARGETS ?= $(FUZZ_ALL)

FUZZ_LIBSRCS := $(wildcard smtp/*.c conf/*.c) relayd/spool_fmt.c relayd/dnswire.c \
		relayd/mtasts.c
FUZZ_LIBOBJS := $(FUZZ_LIBSRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_LIB     := $(FUZZ_DIR)/librelayd-fuzz.a

# fuzz_conf needs libconfuse, and wraps fopen() so that include() cannot
# block on a device or a FIFO.
FUZZ_LIBS_fuzz_conf := $(shell pkg-config --libs libconfuse 2>/dev/null) -Wl,--wrap=fopen

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) $(FUZZ_COMMON) -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIBOBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_ALL:%=$(FUZZ_DIR)/%): $(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,$(FUZZ_SAN) $(FUZZ_COMMON) -MMD -MP -MF $@.d -o $@ $< \
		$(FUZZ_LIB) $(FUZZ_LIBS_$*)

-include $(FUZZ_LIBOBJS:.o=.d) $(FUZZ_ALL:%=$(FUZZ_DIR)/%.d)

.PHONY: fuzz fuzz-build

fuzz-build: $(FUZZ_ALL:%=$(FUZZ_DIR)/%)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
	@sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
