# Helper programs for the integration tests: test/tools/NAME.c -> build/test/tools/NAME, linked
# against the CLI's modules (the replayer lives there) and the shared library, like the unit
# tests. Included from the Makefile.
TOOL_SRCS := $(wildcard test/tools/*.c)
TOOL_BINS := $(patsubst test/tools/%.c,$(BUILD)/test/tools/%,$(TOOL_SRCS))

.PHONY: tools
tools: $(TOOL_BINS) ## build the integration test helpers

$(BUILD)/test/tools/%: $(OBJDIR)/test/tools/%.o $(CLI_A) $(LIB_A)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

integration: $(TOOL_BINS)
