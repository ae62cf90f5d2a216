# Secure tunnels for IoT devices: one non-recursive Makefile.
#   make            build everything into build/bin/
#   make check      unit + end-to-end tests, then again under ASan+UBSan
#   make SAN=1 ...  build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install missing Debian packages (as root) or print the apt-get line
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60); fuzz-smoke: 3 s each

CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     := -O2 -g
endif
BIN     := $(BUILD)/bin
OBJ     := $(BUILD)/obj
GEN     := $(BUILD)/gen

PKGS    := libwebsockets libprotobuf-c libssl libcrypto libcjson sqlite3
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
           $(SANFLAGS) -MMD -MP -I. -I$(GEN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SANFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpaho-mqtt3as

# ---- sources -------------------------------------------------------------
PROTO_GEN  := $(GEN)/proto/tunnel.pb-c.c
PROTO_SRC  := proto/frame.c proto/message.c proto/ws_codec.c
COMMON_SRC := common/log.c common/bytequeue.c common/token.c common/hostport.c \
              common/lws_glue.c common/threads.c common/text.c \
              common/mqtt_tls.c
PROXY_SRC  := proxy/options.c proxy/mapping.c proxy/conn_table.c \
              proxy/tunnel_ws.c proxy/local_tcp.c proxy/source.c \
              proxy/destination.c proxy/backoff.c proxy/tunnel_send.c proxy/tls_client.c \
              proxy/ws_client.c proxy/ws_handshake.c proxy/ws_frames.c
RELAY_SRC  := relay/registry.c relay/admit.c relay/session.c relay/ws_server.c \
              relay/relay_options.c relay/api.c relay/http_api.c relay/metrics.c \
              relay/store.c relay/notify.c relay/notify_payload.c

TUNNELCTL_SRC := $(filter-out tunnelctl/main.c,$(wildcard tunnelctl/*.c))
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))
PROTO_OBJ  := $(OBJ)/gen/tunnel.pb-c.o $(call obj,$(PROTO_SRC))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
PROXY_OBJ  := $(call obj,$(PROXY_SRC))
RELAY_OBJ  := $(call obj,$(RELAY_SRC))
TUNNELCTL_OBJ := $(call obj,$(TUNNELCTL_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))

PROGRAMS := $(BIN)/localproxy $(BIN)/tunnel-relay $(BIN)/tunnelctl $(BIN)/tunnel-agent

# ---- unit tests (cmocka): tests/unit/test_X.c links against the pure modules
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
# The pure modules only: nothing that needs a running event loop.
UNIT_LINK  := $(PROTO_OBJ) $(filter-out $(OBJ)/common/lws_glue.o,$(COMMON_OBJ)) \
              $(call obj,proxy/options.c proxy/mapping.c proxy/backoff.c) \
              $(filter-out $(OBJ)/relay/ws_server.o $(OBJ)/relay/http_api.o $(OBJ)/relay/notify.o,$(RELAY_OBJ)) \
              $(TUNNELCTL_OBJ) $(AGENT_OBJ)

.PHONY: all check unit e2e check-one deps demo bench clean install fuzz fuzz-smoke fuzz-build
# Keep intermediate objects (unit test objects would otherwise be deleted).
.SECONDARY:
all: $(PROGRAMS)

$(GEN)/proto/tunnel.pb-c.c $(GEN)/proto/tunnel.pb-c.h: proto/tunnel.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) $<

# Everything includes the generated header indirectly: build it first.
$(OBJ)/%.o: %.c | $(GEN)/proto/tunnel.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/gen/tunnel.pb-c.o: $(GEN)/proto/tunnel.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BIN)/localproxy: $(OBJ)/proxy/main.o $(PROXY_OBJ) $(COMMON_OBJ) $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/tunnel-relay: $(OBJ)/relay/main.o $(RELAY_OBJ) $(COMMON_OBJ) $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/tunnelctl: $(OBJ)/tunnelctl/main.o $(TUNNELCTL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcurl -lcjson

$(BIN)/tunnel-agent: $(OBJ)/agent/main.o $(AGENT_OBJ) $(OBJ)/common/log.o $(OBJ)/common/token.o \
                     $(OBJ)/common/hostport.o $(OBJ)/common/threads.o $(OBJ)/common/text.o \
                     $(OBJ)/common/mqtt_tls.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/tests/%: $(OBJ)/tests/unit/%.o $(UNIT_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcurl -lcmocka

# ---- tests -----------------------------------------------------------------
# check: deps, then the plain build's tests, then the sanitizer build's tests.
check: deps
	$(MAKE) check-one SAN=0
	$(MAKE) check-one SAN=1
	$(MAKE) fuzz-smoke

check-one: all $(UNIT_BINS)
	tests/run-unit.sh $(BIN)/tests
	BIN_DIR=$(abspath $(BIN)) SAN=$(SAN) python3 tests/e2e/run.py

unit: $(UNIT_BINS)
	tests/run-unit.sh $(BIN)/tests

e2e: all
	BIN_DIR=$(abspath $(BIN)) SAN=$(SAN) python3 tests/e2e/run.py $(E2E)

deps:
	@scripts/deps.sh

demo: deps
	$(MAKE) all SAN=0
	scripts/demo.sh

# A benchmark, not a test: prints a table and writes docs/benchmarks.md.
bench: deps
	$(MAKE) all SAN=0
	python3 scripts/bench.py

# ---- fuzzing (libFuzzer: clang whatever CC is; docs/fuzzing.md) ------------
# Each target links the harness with only the modules it tests, compiled
# with coverage instrumentation into build/fuzz/ (never mixed with build/).
FUZZ_CC      := clang
FUZZ_DIR     := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := frame ws_codec admit api notification agent_config render
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
                -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
                -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -I. -I$(FUZZ_DIR)/gen \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

FUZZ_PB            := $(FUZZ_DIR)/obj/gen/tunnel.pb-c.o
FUZZ_frame_SRC     := proto/frame.c proto/message.c
FUZZ_ws_codec_SRC  := proto/ws_codec.c
FUZZ_admit_SRC     := relay/admit.c relay/registry.c common/token.c common/text.c \
                      proto/message.c proto/ws_codec.c
FUZZ_api_SRC       := relay/api.c relay/store.c relay/registry.c common/token.c \
                      common/text.c proto/message.c
FUZZ_notification_SRC := agent/notification.c agent/config.c agent/config_report.c \
                      agent/config_files.c agent/json_type.c common/hostport.c common/token.c
FUZZ_agent_config_SRC := agent/config.c agent/config_report.c agent/config_files.c \
                      agent/json_type.c common/hostport.c
FUZZ_render_SRC    := tunnelctl/render.c tunnelctl/url.c tunnelctl/cli.c
fuzz_obj = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/bin/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_DIR)/gen/proto/tunnel.pb-c.c $(FUZZ_DIR)/gen/proto/tunnel.pb-c.h: proto/tunnel.proto
	@mkdir -p $(FUZZ_DIR)/gen
	protoc-c --c_out=$(FUZZ_DIR)/gen $<

$(FUZZ_DIR)/obj/%.o: %.c | $(FUZZ_DIR)/gen/proto/tunnel.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_PB): $(FUZZ_DIR)/gen/proto/tunnel.pb-c.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

define fuzz_target
$(FUZZ_DIR)/bin/fuzz_$(1): $(call fuzz_obj,tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz_input.c $(FUZZ_$(1)_SRC)) $(FUZZ_PB)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $$@ $$^ $(FUZZ_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

fuzz-build: $(FUZZ_BINS)

# Runs on a copy of tests/fuzz/corpus/TARGET in a temp dir: the tree is never written.
fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR)/bin $(FUZZ_TARGETS)

# A few seconds each, seeds first: fails if a target crashes (make check runs it once).
fuzz-smoke: $(FUZZ_BINS)
	tests/fuzz/run.sh 3 $(FUZZ_DIR)/bin $(FUZZ_TARGETS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
