# Secure tunnels for IoT devices: one non-recursive Makefile.
#   make            build everything into build/bin/
#   make check      unit + end-to-end tests, then again under ASan+UBSan
#   make SAN=1 ...  build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install missing Debian packages (as root) or print the apt-get line

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
# The event loop (localproxy's; general enough for others).
EV_SRC     := common/ev_loop.c common/ev_timer.c common/ev_async.c common/ev_signal.c
# localproxy's data plane: no I/O, unit-tested through a fake struct proxy_io.
PROXY_PLANE_SRC := proxy/conn_table.c proxy/tunnel_send.c proxy/conn_life.c \
              proxy/source.c proxy/destination.c proxy/dispatch.c
PROXY_SRC  := proxy/options.c proxy/mapping.c proxy/backoff.c $(PROXY_PLANE_SRC) \
              proxy/dial.c proxy/local_sock.c proxy/io_sockets.c proxy/tunnel.c proxy/tls_client.c \
              proxy/ws_client.c proxy/ws_handshake.c proxy/ws_frames.c
# The common modules localproxy uses.
PROXY_COMMON_SRC := common/log.c common/bytequeue.c common/token.c common/hostport.c \
              common/text.c
RELAY_SRC  := relay/registry.c relay/admit.c relay/session.c relay/ws_server.c \
              relay/relay_options.c relay/api.c relay/http_api.c relay/metrics.c \
              relay/store.c relay/notify.c relay/notify_payload.c

TUNNELCTL_SRC := $(filter-out tunnelctl/main.c,$(wildcard tunnelctl/*.c))
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))
PROTO_OBJ  := $(OBJ)/gen/tunnel.pb-c.o $(call obj,$(PROTO_SRC))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
PROXY_OBJ  := $(call obj,$(PROXY_SRC))
EV_OBJ     := $(call obj,$(EV_SRC))
RELAY_OBJ  := $(call obj,$(RELAY_SRC))
TUNNELCTL_OBJ := $(call obj,$(TUNNELCTL_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))

PROGRAMS := $(BIN)/localproxy $(BIN)/tunnel-relay $(BIN)/tunnelctl $(BIN)/tunnel-agent

# ---- unit tests (cmocka): tests/unit/test_X.c links against the pure modules
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
# The modules without I/O, and the event loop (its tests use pipes and socketpairs).
UNIT_LINK  := $(PROTO_OBJ) $(filter-out $(OBJ)/common/lws_glue.o,$(COMMON_OBJ)) $(EV_OBJ) \
              $(call obj,proxy/options.c proxy/mapping.c proxy/backoff.c $(PROXY_PLANE_SRC)) \
              $(filter-out $(OBJ)/relay/ws_server.o $(OBJ)/relay/http_api.o $(OBJ)/relay/notify.o,$(RELAY_OBJ)) \
              $(TUNNELCTL_OBJ) $(AGENT_OBJ)

.PHONY: all check unit e2e check-one deps demo bench clean install
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

# localproxy needs OpenSSL and protobuf-c only (its event loop is common/ev*.c).
# -lwebsockets only while common/log.c still routes lws's log lines; with
# --as-needed it is not a dependency once log.c no longer calls lws.
PROXY_LDLIBS := $(shell pkg-config --libs libprotobuf-c libssl libcrypto 2>/dev/null) \
                -Wl,--as-needed -lwebsockets -Wl,--no-as-needed
$(BIN)/localproxy: $(OBJ)/proxy/main.o $(PROXY_OBJ) $(EV_OBJ) $(call obj,$(PROXY_COMMON_SRC)) \
                   $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PROXY_LDLIBS)

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

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
