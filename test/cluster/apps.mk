# Demo apps of the simulated cluster (test/cluster/apps/*.c) -> build/apps/.
# Included by the top-level Makefile; the apps are part of `all`.
APPS_DIR  := test/cluster/apps
APPS_BIN  := $(BUILD)/apps
APPS      := $(APPS_BIN)/ip-visit-counter $(APPS_BIN)/ip-info
# The "developer's local build" of the demo: same code, another build tag.
LOCAL_APP := $(APPS_BIN)/ip-visit-counter-local
APPS_COMMON := $(APPS_DIR)/httpd.c $(APPS_DIR)/netclient.c
APPS_HDRS := $(wildcard $(APPS_DIR)/*.h)
APPS_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE

all: $(APPS) $(LOCAL_APP)

$(LOCAL_APP): $(APPS_DIR)/ip-visit-counter.c $(APPS_DIR)/resp.c $(APPS_COMMON) $(APPS_HDRS) | $(APPS_BIN)
	$(call msg,APP,$@)
	$(Q)$(CC) $(APPS_CFLAGS) -DBUILD_TAG='"local build"' -o $@ $(filter %.c,$^) -lpthread

$(APPS_BIN)/ip-visit-counter: $(APPS_DIR)/ip-visit-counter.c $(APPS_DIR)/resp.c $(APPS_COMMON)
$(APPS_BIN)/ip-info: $(APPS_DIR)/ip-info.c $(APPS_COMMON)

$(APPS): $(APPS_HDRS) | $(APPS_BIN)
	$(call msg,APP,$@)
	$(Q)$(CC) $(APPS_CFLAGS) -o $@ $(filter %.c,$^) -lpthread

$(APPS_BIN):
	@mkdir -p $@
