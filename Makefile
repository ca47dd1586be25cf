# bpfmirror build. `make help` lists the targets; V=1 shows full commands.
#
# Layout of build/:
#   build/gen/      generated headers/sources (vmlinux.h, *.skel.h, *.pb-c.[ch])
#   build/bpf/      BPF objects
#   build/obj/      userspace objects (with .d dependency files)
#   build/bpfmirror, build/bpfmirror-agent   the two binaries
#   build/test/     Check test binaries, build/fuzz/ libFuzzer binaries

BUILD   ?= build
GEN     := $(BUILD)/gen
OBJDIR  := $(BUILD)/obj
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS     := libbpf yaml-0.1 libprotobuf-c zlib libcurl json-c libnghttp2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
# Every folder under userspace/ and agent/ is on the include path, so a module
# moves between folders without its includers changing. bpf/lib/ is not: its
# headers are BPF-side only (the ABI header in bpf/ is the shared one).
SRC_DIRS := $(sort $(shell find userspace agent -type d))
INCLUDES := -Ibpf $(addprefix -I,$(SRC_DIRS)) -I$(GEN)
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP \
	-DBPFMIRROR_VERSION='"$(VERSION)"' \
	$(INCLUDES) $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lelf -lpthread

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 $(WARN) \
	-Wno-unused-command-line-argument -MMD -MP -Ibpf -I$(GEN)

# ---- sources -------------------------------------------------------------
PROTO_SRCS := $(wildcard schemas/*.proto)
PROTO_C    := $(patsubst schemas/%.proto,$(GEN)/%.pb-c.c,$(PROTO_SRCS))
PROTO_H    := $(PROTO_C:.c=.h)
PROTO_OBJS := $(patsubst $(GEN)/%.c,$(OBJDIR)/gen/%.o,$(PROTO_C))

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(GEN)/%.skel.h,$(BPF_SRCS))

# userspace/lib: linked into both binaries. Every other folder under
# userspace/ is the CLI's; every folder under agent/ is the agent's.
LIB_SRCS   := $(sort $(shell find userspace/lib -name '*.c'))
LIB_OBJS   := $(patsubst %.c,$(OBJDIR)/%.o,$(LIB_SRCS)) $(PROTO_OBJS)
CLI_SRCS   := $(filter-out userspace/cli/main.c $(LIB_SRCS),$(sort $(shell find userspace -name '*.c')))
CLI_OBJS   := $(patsubst %.c,$(OBJDIR)/%.o,$(CLI_SRCS))
AGENT_SRCS := $(filter-out agent/main.c,$(sort $(shell find agent -name '*.c')))
AGENT_OBJS := $(patsubst %.c,$(OBJDIR)/%.o,$(AGENT_SRCS))

LIB_A   := $(BUILD)/libbpfmirror.a
CLI_A   := $(BUILD)/libcli.a
AGENT_A := $(BUILD)/libagent.a

CLI_BIN   := $(BUILD)/bpfmirror
AGENT_BIN := $(BUILD)/bpfmirror-agent

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard test/bpf/test_*.c)
BPFT_BINS := $(patsubst test/bpf/%.c,$(BUILD)/test/bpf_%,$(BPFT_SRCS))
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_TIME ?= 60

# Everything that compiles userspace code needs the generated headers first;
# -MMD then records the real dependencies for later rebuilds.
GENERATED := $(PROTO_H) $(SKELS)

.PHONY: all test check demo bench deps clean help unit bpftest fuzz fuzz-short \
	integration format image sanitize
.DEFAULT_GOAL := all
# Keep intermediate objects so rebuilds stay incremental.
.SECONDARY:

all: $(CLI_BIN) $(AGENT_BIN) $(BPF_OBJS) ## build the CLI, the agent and the BPF objects

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install missing Debian packages (root, idempotent)
	@scripts/deps.sh

# ---- generated code ------------------------------------------------------
$(GEN)/vmlinux.h:
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: schemas/%.proto
	@mkdir -p $(GEN)
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --c_out=$(GEN) -Ischemas $<

$(BUILD)/bpf/%.tmp.o: bpf/%.bpf.c $(GEN)/vmlinux.h
	@mkdir -p $(@D)
	$(call msg,BPF,$<)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MF $(BUILD)/bpf/$*.d -MT $@ -c $< -o $@

$(BUILD)/bpf/%.bpf.o: $(BUILD)/bpf/%.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $<

$(GEN)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

# ---- userspace -----------------------------------------------------------
$(OBJDIR)/gen/%.o: $(GEN)/%.c | $(GENERATED)
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-unused-parameter -c $< -o $@

$(OBJDIR)/%.o: %.c | $(GENERATED)
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(CLI_A): $(CLI_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(AGENT_A): $(AGENT_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(CLI_BIN): $(OBJDIR)/userspace/cli/main.o $(CLI_A) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(AGENT_BIN): $(OBJDIR)/agent/main.o $(AGENT_A) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests -----------------------------------------------------------------
$(BUILD)/test/%: $(OBJDIR)/test/unit/%.o $(CLI_A) $(AGENT_A) $(LIB_A)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/test/bpf_%: $(OBJDIR)/test/bpf/%.o $(AGENT_A) $(LIB_A)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(OBJDIR)/test/%.o: test/%.c | $(GENERATED)
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itest -c $< -o $@

# Fuzz targets compile the sources they exercise directly, with clang's
# libFuzzer and ASan/UBSan; each fuzz_X.c lists its sources on a line
#   // FUZZ_SOURCES: userspace/lib/a.c userspace/lib/b.c
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(WARN) -std=gnu11 -D_GNU_SOURCE -DBPFMIRROR_VERSION='"$(VERSION)"' $(INCLUDES) $(PKG_CFLAGS)
# (several such lines may be given). Any userspace source change rebuilds them:
# cheap, and the listed sources are not known to make before the recipe runs.
FUZZ_DEPS := $(shell find userspace agent -name '*.[ch]')
$(BUILD)/fuzz/%: test/fuzz/%.c $(PROTO_C) $(FUZZ_DEPS) | $(GENERATED)
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< \
		$$(sed -n 's|^// FUZZ_SOURCES:||p' $<) $(LDLIBS)

unit: $(UNIT_BINS) ## run the Check unit tests
	@scripts/run-tests.sh unit $(UNIT_BINS)

bpftest: $(BPFT_BINS) $(BPF_OBJS) ## run the BPF_PROG_RUN packet tests (root)
	@scripts/run-tests.sh bpf $(BPFT_BINS)

fuzz: $(FUZZ_BINS) ## run every fuzz target for FUZZ_TIME seconds (default 60)
	@scripts/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_BINS)

fuzz-short: $(FUZZ_BINS)
	@scripts/run-fuzz.sh 10 $(FUZZ_BINS)

integration: all ## run the network-namespace integration tests (root)
	@test/integration/run.sh

test: deps ## install deps, build, run every test tier
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory bpftest
	@$(MAKE) --no-print-directory fuzz-short
	@$(MAKE) --no-print-directory integration

# ---- static checks ---------------------------------------------------------
FMT_SRCS := $(shell git ls-files '*.c' '*.h' 2>/dev/null)
check: $(GENERATED) ## format check, static analysis (cppcheck), code map, function length, sanitizer unit tests
	@echo "  FORMAT  clang-format --dry-run"
	$(Q)clang-format --dry-run -Werror $(FMT_SRCS)
	@echo "  CODEMAP docs/design.md matches the tree"
	$(Q)python3 scripts/check-codemap.py
	@echo "  FUNCLEN no product function over 100 lines"
	$(Q)python3 scripts/check-funclen.py 100
	@echo "  CPPCHECK"
	$(Q)cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
		--enable=warning,portability,performance \
		--suppress=missingIncludeSystem --suppress=unknownMacro \
		-D__x86_64__ $(filter-out -I$(GEN),$(INCLUDES)) \
		userspace agent test/unit
	@$(MAKE) --no-print-directory sanitize

# The unit tests again, built with ASan + UBSan in build/sanitize/.
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
sanitize: ## run the unit tests under AddressSanitizer and UBSan
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize CFLAGS="$(SAN_FLAGS)" unit

format: ## rewrite sources with clang-format
	$(Q)clang-format -i $(FMT_SRCS)

demo: deps ## install deps, build, bring up simcluster and show the main job
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: all ## run the benchmarks in bench/ (prints ratios)
	@bench/run.sh

image: ## build the agent image with a container engine, if one exists
	@scripts/image.sh

clean: ## remove build/
	rm -rf $(BUILD)

-include test/cluster/apps.mk
-include test/tools/tools.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
