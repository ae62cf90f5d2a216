# Secure tunnels for IoT devices: one non-recursive Makefile.
#   make            build everything into build/bin/
#   make check      unit + end-to-end tests, then again under ASan+UBSan
#   make SAN=1 ...  build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install missing Debian packages (as root) or print the apt-get line
#   make install    programs, man pages, units, sysusers/tmpfiles, examples (PREFIX=/usr/local, DESTDIR)
#   make deb        Debian packages in build/deb/ARCH/ (ARCH=arm64|armhf: the device side, cross-built)
#   make static     a static localproxy for x86_64 and aarch64 in build/static/ (docs/install.md)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60); fuzz-smoke: 3 s each
#   make demo-console  the demo system kept running with the web console on, until Ctrl-C

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

PKGS    := libwebsockets libprotobuf-c libssl libcrypto libcjson sqlite3 libssh libpq
# A cross build names its own (make deb ARCH=..., packaging/debian/rules).
PKG_CONFIG ?= pkg-config
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
           $(SANFLAGS) -MMD -MP -I. -I$(GEN) \
           $(foreach p,$(PKGS),$(shell $(PKG_CONFIG) --cflags $(p) 2>/dev/null))
LDFLAGS += $(SANFLAGS)
# Each program links only the libraries it calls (the agent runs on small
# devices: no libwebsockets, SQLite or protobuf-c in its memory).
libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)
PAHO          := -lpaho-mqtt3as
AGENT_LIBS    := $(PAHO) $(call libs,libcrypto libcjson)
# libpq: the PostgreSQL store (--db postgresql://...), the relay only.
RELAY_LIBS    := $(call libs,libwebsockets libssl libcrypto libprotobuf-c libcjson sqlite3 libpq) $(PAHO) -lev -lcrypt
PROXY_LIBS    := $(call libs,libssl libcrypto libprotobuf-c)
TUNNELCTL_LIBS := -lcurl -lcjson
# tunnel-term: the browser terminal's SSH client (libssh) and its JSON frames.
TERM_LIBS     := $(call libs,libssh libcjson libcrypto)
# Unit tests may link any of them; --as-needed keeps only those they call.
UNIT_LIBS     := $(call libs,$(PKGS)) $(PAHO) -lev -lcurl -lcmocka -lcrypt

# ---- sources -------------------------------------------------------------
PROTO_GEN  := $(GEN)/proto/tunnel.pb-c.c
PROTO_SRC  := proto/frame.c proto/message.c proto/ws_codec.c
# common/: the pieces every program may use, then those tied to a library.
COMMON_SRC := common/log.c common/config_line.c common/bytequeue.c common/token.c common/hostport.c \
              common/text.c common/clock.c common/tcp_liveness.c common/pem_files.c common/term_frame.c
LWS_GLUE_SRC := common/lws_glue.c
MQTT_SRC   := common/mqtt_client.c common/threads.c
# The event loop (localproxy's; general enough for others).
EV_SRC     := common/ev_loop.c common/ev_timer.c common/ev_async.c common/ev_signal.c
# localproxy's data plane: no I/O, unit-tested through a fake struct proxy_io.
PROXY_PLANE_SRC := proxy/conn_table.c proxy/tunnel_send.c proxy/conn_life.c \
              proxy/source.c proxy/destination.c proxy/dispatch.c
PROXY_SRC  := proxy/options.c proxy/mapping.c proxy/backoff.c $(PROXY_PLANE_SRC) \
              proxy/dial.c proxy/local_queue.c proxy/local_sock.c proxy/local_stdio.c proxy/local_udp.c \
              proxy/udp_flows.c proxy/io_sockets.c proxy/tunnel.c proxy/tls_client.c proxy/ca_bundle.c \
              proxy/ws_client.c proxy/ws_handshake.c proxy/ws_frames.c
RELAY_SRC  := relay/registry.c relay/registry_index.c relay/admit.c relay/cluster.c relay/session.c \
              relay/server.c relay/event_loop.c relay/fd_limit.c relay/conn_gate.c \
              relay/proxy_header.c relay/listener.c relay/tunnel_timers.c relay/handshake.c relay/refusal_log.c relay/peer.c relay/live_index.c \
              relay/tunnel_ws.c relay/peer_lws.c relay/relay_options.c relay/relay_conf.c \
              relay/relay_check.c relay/http_router.c \
              relay/http_api.c relay/api.c relay/api_response.c relay/api_things.c relay/tunnel_ops.c relay/metrics.c \
              relay/sigv4.c relay/aws_keys.c relay/aws_tags.c relay/aws_api.c relay/http_aws.c \
              relay/store.c relay/store_worker.c relay/store_rows.c relay/store_sqlite_rows.c \
              relay/store_sqlite_jobs.c relay/store_sqlite.c \
              relay/store_uri.c relay/store_pg_sql.c relay/store_pg_known.c relay/store_pg_conn.c \
              relay/store_pg_rows.c relay/store_pg_watch.c relay/store_pg_jobs.c relay/store_pg.c \
              relay/notify.c relay/notify_payload.c relay/pending_notification.c relay/notify_outbox.c \
              relay/audit.c relay/console_users.c relay/password_hash.c relay/password_worker.c \
              relay/signin_throttle.c relay/console_sessions.c relay/console.c relay/console_auth.c relay/console_reply.c relay/console_signin.c \
              relay/console_static.c relay/console_things.c relay/console_recordings.c relay/recording_name.c relay/adduser.c \
              relay/things.c relay/presence_payload.c relay/presence_feed.c \
              relay/host_keys.c relay/terminal.c relay/terminal_helper.c relay/terminals.c \
              relay/terminal_ws.c relay/terminal_routes.c

TUNNELCTL_SRC := $(filter-out tunnelctl/main.c,$(wildcard tunnelctl/*.c))
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))
TERM_SRC   := $(filter-out term/main.c,$(wildcard term/*.c))

# make static: localproxy linked statically (glibc's host lookups pinned to
# its built-in modules: proxy/static_nss.c).
ifeq ($(STATIC),1)
PROXY_SRC  += proxy/static_nss.c
LDFLAGS    += -static
PKG_CONFIG += --static
endif

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))
PROTO_OBJ  := $(OBJ)/gen/tunnel.pb-c.o $(call obj,$(PROTO_SRC))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
LWS_GLUE_OBJ := $(call obj,$(LWS_GLUE_SRC))
MQTT_OBJ   := $(call obj,$(MQTT_SRC))
PROXY_OBJ  := $(call obj,$(PROXY_SRC))
EV_OBJ     := $(call obj,$(EV_SRC))
RELAY_OBJ  := $(call obj,$(RELAY_SRC))
TUNNELCTL_OBJ := $(call obj,$(TUNNELCTL_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))
TERM_OBJ   := $(call obj,$(TERM_SRC))

PROGRAMS := $(BIN)/localproxy $(BIN)/tunnel-relay $(BIN)/tunnelctl $(BIN)/tunnel-agent \
            $(BIN)/tunnel-term

# ---- unit tests (cmocka) ---------------------------------------------------
# tests/unit/PROGRAM/test_MODULE.c tests PROGRAM/MODULE.c. Each program's
# objects (main.o aside) go into an archive, so that a test binary links only
# the objects it really calls (the linker takes an archive member only when
# it is referenced), and --as-needed drops every shared library they do not
# use. Other .c files in a test folder are that folder's shared test helpers.
LIB        := $(BUILD)/lib
UNIT_DIRS  := proto common relay proxy agent tunnelctl term
UNIT_SRC   := $(wildcard $(addsuffix /test_*.c,$(addprefix tests/unit/,$(UNIT_DIRS))))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
unit_support = $(call obj,$(filter-out $(wildcard tests/unit/$(1)/test_*.c),$(wildcard tests/unit/$(1)/*.c)))
ARCHIVE_OBJ_proto     := $(PROTO_OBJ)
ARCHIVE_OBJ_common    := $(COMMON_OBJ) $(EV_OBJ) $(LWS_GLUE_OBJ) $(MQTT_OBJ)
ARCHIVE_OBJ_relay     := $(RELAY_OBJ)
ARCHIVE_OBJ_proxy     := $(PROXY_OBJ)
ARCHIVE_OBJ_agent     := $(AGENT_OBJ)
ARCHIVE_OBJ_tunnelctl := $(TUNNELCTL_OBJ)
ARCHIVE_OBJ_term      := $(TERM_OBJ)
# Programs' archives first, then what they all stand on.
UNIT_ARCHIVES := $(addprefix $(LIB)/lib,$(addsuffix .a,relay proxy agent tunnelctl term common proto))
UNIT_LDLIBS   := -Wl,--as-needed $(UNIT_LIBS)

.SECONDEXPANSION:
$(LIB)/lib%.a: $$(ARCHIVE_OBJ_$$*)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

.PHONY: all check unit e2e check-one deps demo demo-console bench bench-scale clean install man fuzz \
        fuzz-smoke fuzz-build console-assets console-screenshots \
        install-localproxy install-tunnelctl install-tunnel-agent install-tunnel-relay deb static
# Keep intermediate objects (unit test objects would otherwise be deleted).
.SECONDARY:
all: $(PROGRAMS)

$(GEN)/proto/tunnel.pb-c.c $(GEN)/proto/tunnel.pb-c.h &: proto/tunnel.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) $<

# Everything includes the generated header indirectly: build it first.
$(OBJ)/%.o: %.c | $(GEN)/proto/tunnel.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The console's files are installed under PREFIX: the relay looks there
# unless --console-dir says otherwise.
$(OBJ)/relay/relay_options.o: CFLAGS += -DCONSOLE_DIR_DEFAULT='"$(PREFIX)/share/tunnel-relay/console"'

$(OBJ)/gen/tunnel.pb-c.o: $(GEN)/proto/tunnel.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# localproxy needs OpenSSL and protobuf-c only (its event loop is common/ev*.c).
$(BIN)/localproxy: $(OBJ)/proxy/main.o $(PROXY_OBJ) $(EV_OBJ) $(COMMON_OBJ) $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PROXY_LIBS)

$(BIN)/tunnel-relay: $(OBJ)/relay/main.o $(RELAY_OBJ) $(COMMON_OBJ) $(LWS_GLUE_OBJ) $(MQTT_OBJ) \
                     $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(RELAY_LIBS)

$(BIN)/tunnelctl: $(OBJ)/tunnelctl/main.o $(TUNNELCTL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TUNNELCTL_LIBS)

# The agent says its version in its presence message.
$(OBJ)/agent/agent.o: CFLAGS += -DAGENT_VERSION='"$(VERSION)"'
$(OBJ)/agent/agent.o: VERSION

$(BIN)/tunnel-agent: $(OBJ)/agent/main.o $(AGENT_OBJ) $(OBJ)/common/log.o $(OBJ)/common/token.o \
                     $(OBJ)/common/hostport.o $(OBJ)/common/text.o $(OBJ)/common/clock.o \
                     $(OBJ)/common/pem_files.o \
                     $(MQTT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)

# The terminal helper the relay starts per browser terminal: libssh, cJSON
# and OpenSSL's cleanse only (no libwebsockets, SQLite or protobuf-c).
$(BIN)/tunnel-term: $(OBJ)/term/main.o $(TERM_OBJ) $(OBJ)/common/log.o $(OBJ)/common/token.o \
                    $(OBJ)/common/hostport.o $(OBJ)/common/bytequeue.o $(OBJ)/common/term_frame.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TERM_LIBS)

$(BIN)/tests/%: $(OBJ)/tests/unit/%.o $$(call unit_support,$$(patsubst %/,%,$$(dir $$*))) $(UNIT_ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(UNIT_ARCHIVES) $(UNIT_LDLIBS)

# ---- tests -----------------------------------------------------------------
# check: deps, the fuzz smoke, then the plain build's tests, then the sanitizer build's tests.
check: deps
	$(MAKE) fuzz-smoke
	$(MAKE) check-one SAN=0
	$(MAKE) check-one SAN=1

check-one: all $(UNIT_BINS) console-assets
	python3 scripts/callgraph.py $(OBJ)
	tests/run-unit.sh $(BIN)/tests
	BIN_DIR=$(abspath $(BIN)) SAN=$(SAN) python3 tests/e2e/run.py

unit: $(UNIT_BINS)
	tests/run-unit.sh $(BIN)/tests

# test_pg_store runs the PostgreSQL store's unit binary against its cluster.
e2e: all console-assets $(BIN)/tests/relay/test_store_pg
	BIN_DIR=$(abspath $(BIN)) SAN=$(SAN) python3 tests/e2e/run.py $(E2E)

deps:
	@scripts/deps.sh
	@$(MAKE) -s console-assets

demo: deps
	$(MAKE) all SAN=0
	scripts/demo.sh

# The demo system kept running with the console on: prints its URL and a
# one-time admin password, stops everything on Ctrl-C.
demo-console: deps
	$(MAKE) all SAN=0
	scripts/demo.sh --console

# ---- the web console's browser side (console/, docs/console.md) ----------
# xterm.js and its fit addon, pinned by console/package-lock.json (Debian's
# node-xterm is 3.8.1, CommonJS, without a browser bundle). npm ci installs
# exactly the locked versions, checked against the lockfile's hashes; no
# package scripts run. The relay serves console/node_modules/@xterm/ as
# /console/vendor/.
XTERM_FILES := console/node_modules/@xterm/xterm/lib/xterm.js \
               console/node_modules/@xterm/xterm/css/xterm.css \
               console/node_modules/@xterm/addon-fit/lib/addon-fit.js
console-assets: $(XTERM_FILES)

$(XTERM_FILES) &: console/package.json console/package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --prefix console
	touch $(XTERM_FILES)

# The browser test's screenshots into docs/img/ (the test itself writes only
# into temp dirs): runs it once with E2E_CONSOLE_SCREENSHOTS set.
CONSOLE_SHOTS := login devices terminal audit
console-screenshots: all console-assets
	@shots=$$(mktemp -d) && trap 'rm -rf "$$shots"' EXIT && \
	BIN_DIR=$(abspath $(BIN)) SAN=0 E2E_CONSOLE_SCREENSHOTS=$$shots \
		python3 tests/e2e/run.py test_console::test_console_admin && \
	mkdir -p docs/img && \
	for s in $(CONSOLE_SHOTS); do cp "$$shots/console-$$s.png" docs/img/ || exit 1; done && \
	echo "docs/img: $(CONSOLE_SHOTS:%=console-%.png)"

# A benchmark, not a test: prints a table and writes docs/benchmarks.md.
bench: deps
	$(MAKE) all SAN=0
	python3 scripts/bench.py
	/usr/bin/python3 scripts/bench_console.py

# The relay with thousands of idle tunnels (scripts/bench_scale.py; about
# 10 minutes): its table goes into docs/benchmarks.md under its own heading.
bench-scale: deps
	$(MAKE) all SAN=0
	python3 scripts/bench_scale.py --doc

# ---- fuzzing (libFuzzer: clang whatever CC is; docs/fuzzing.md) ------------
# Each target links the harness with only the modules it tests, compiled
# with coverage instrumentation into build/fuzz/ (never mixed with build/).
FUZZ_CC      := clang
FUZZ_DIR     := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := frame ws_codec admit api notification agent_config render presence term_frame proxy_header
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
                -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
                -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -I. -I$(FUZZ_DIR)/gen \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

FUZZ_PB            := $(FUZZ_DIR)/obj/gen/tunnel.pb-c.o
FUZZ_frame_SRC     := proto/frame.c proto/message.c
FUZZ_ws_codec_SRC  := proto/ws_codec.c
FUZZ_admit_SRC     := relay/admit.c relay/registry.c relay/registry_index.c common/token.c common/text.c \
                      proto/message.c proto/ws_codec.c
FUZZ_api_SRC       := relay/api.c relay/api_response.c relay/store.c common/log.c relay/api_things.c relay/things.c relay/notify_payload.c \
                      relay/tunnel_ops.c relay/cluster.c relay/registry.c relay/registry_index.c common/token.c \
                      common/text.c proto/message.c
FUZZ_notification_SRC := agent/notification.c agent/config.c agent/config_report.c \
                      agent/config_files.c agent/json_type.c common/hostport.c common/token.c \
                      common/pem_files.c common/text.c
FUZZ_agent_config_SRC := agent/config.c agent/config_report.c agent/config_files.c common/pem_files.c \
                      agent/json_type.c common/hostport.c common/text.c
FUZZ_render_SRC    := tunnelctl/render.c tunnelctl/url.c tunnelctl/cli.c
FUZZ_presence_SRC  := relay/presence_payload.c relay/notify_payload.c proto/message.c common/text.c
FUZZ_term_frame_SRC := common/term_frame.c term/asciicast.c
FUZZ_proxy_header_SRC := relay/proxy_header.c
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

# ---- install (PREFIX, DESTDIR) ----------------------------------------------
# The programs, their man pages (made by help2man from each program's --help,
# so they cannot drift from it), the systemd units, sysusers and tmpfiles
# entries, the console's files, and the example configurations.
# INSTALL_PROGRAMS picks programs (a cross build installs the device side
# only; tunnel-relay brings tunnel-term, the program it starts); MAN_BIN is
# where the binaries help2man runs are (a cross build's man pages come from
# the native build, since help2man cannot run a foreign binary).
VERSION     := $(shell cat VERSION 2>/dev/null || echo 0)
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      := $(PREFIX)/bin
MANDIR      := $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
EXAMPLEDIR  := $(PREFIX)/share/doc/secure-tunnel/examples
RELAYDATADIR := $(PREFIX)/share/tunnel-relay
MANOUT      ?= $(BUILD)/man
MAN_BIN     ?= $(BIN)
INSTALL_PROGRAMS ?= localproxy tunnelctl tunnel-relay tunnel-agent
man_section_localproxy   := 1
man_section_tunnelctl    := 1
man_section_tunnel-relay := 8
man_section_tunnel-agent := 8
man_section_tunnel-term  := 8
MAN_PROGRAMS := $(INSTALL_PROGRAMS) $(if $(filter tunnel-relay,$(INSTALL_PROGRAMS)),tunnel-term)
MAN_PAGES   := $(foreach p,$(MAN_PROGRAMS),$(MANOUT)/$(p).$(man_section_$(p)))
man_name_localproxy   := the source or destination end of a secure tunnel (AWS IoT Secure Tunneling protocol)
man_name_tunnelctl    := open, list, describe, rotate and close secure tunnels; list devices (things); ssh or forward a port to a device in one command
man_name_tunnel-relay := the relay of a self-hosted secure tunnel service
man_name_tunnel-agent := starts a destination localproxy when a device is told of a tunnel over MQTT
man_name_tunnel-term  := the SSH client of one web console terminal, run by tunnel-relay

man: $(MAN_PAGES)

$(MANOUT)/%.1 $(MANOUT)/%.8: $(MAN_BIN)/%
	@mkdir -p $(dir $@)
	help2man --no-info --no-discard-stderr --version-string=$(VERSION) \
		--section=$(if $(filter %.8,$@),8,1) --name="$(man_name_$*)" --output=$@ $<

# One program, its man page, and what belongs with it (install-PROGRAM).
install_program = install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man$(2) && \
	install -m 0755 $(BIN)/$(1) $(DESTDIR)$(BINDIR)/ && \
	install -m 0644 $(MANOUT)/$(1).$(2) $(DESTDIR)$(MANDIR)/man$(2)/
# A unit, with ExecStart pointing into BINDIR.
install_unit = install -d $(DESTDIR)$(UNITDIR) && \
	sed 's\#/usr/bin/\#$(BINDIR)/\#g' packaging/systemd/$(1).service > $(DESTDIR)$(UNITDIR)/$(1).service && \
	chmod 0644 $(DESTDIR)$(UNITDIR)/$(1).service

install: $(addprefix install-,$(INSTALL_PROGRAMS))

install-localproxy install-tunnelctl: install-%: $(BIN)/% $(MANOUT)/%.1
	$(call install_program,$*,1)

install-tunnel-agent: $(BIN)/tunnel-agent $(MANOUT)/tunnel-agent.8
	$(call install_program,tunnel-agent,8)
	$(call install_unit,tunnel-agent)
	install -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(EXAMPLEDIR)
	install -d $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 packaging/systemd/tunnel-agent.sysusers $(DESTDIR)$(SYSUSERSDIR)/tunnel-agent.conf
	install -m 0644 packaging/systemd/tunnel-agent.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tunnel-agent.conf
	install -m 0644 packaging/systemd/agent.json.example $(DESTDIR)$(EXAMPLEDIR)/agent.json

# The relay, tunnel-term (the console's SSH client, which the relay looks
# for beside itself), the console's files, its unit, user and state
# directory, relay.conf, and the mosquitto drop-in, ACL and bridge (installed
# beside it, not into /etc/mosquitto: docs/install.md says when to copy them
# there); HAProxy's example for several nodes (docs/scaling.md).
install-tunnel-relay: $(BIN)/tunnel-relay $(BIN)/tunnel-term $(MANOUT)/tunnel-relay.8 \
                      $(MANOUT)/tunnel-term.8
	$(call install_program,tunnel-relay,8)
	$(call install_program,tunnel-term,8)
	$(call install_unit,tunnel-relay)
	install -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(EXAMPLEDIR) \
		$(DESTDIR)$(RELAYDATADIR)/mosquitto
	install -m 0644 packaging/systemd/tunnel-relay.sysusers $(DESTDIR)$(SYSUSERSDIR)/tunnel-relay.conf
	install -m 0644 packaging/systemd/tunnel-relay.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tunnel-relay.conf
	install -m 0644 packaging/systemd/relay.conf $(DESTDIR)$(EXAMPLEDIR)/relay.conf
	install -m 0644 packaging/mosquitto/mosquitto.conf $(DESTDIR)$(RELAYDATADIR)/mosquitto/tunnel.conf
	install -m 0644 packaging/mosquitto/acl $(DESTDIR)$(RELAYDATADIR)/mosquitto/acl
	install -m 0644 packaging/mosquitto/bridge.conf $(DESTDIR)$(RELAYDATADIR)/mosquitto/bridge.conf
	install -m 0644 packaging/haproxy/haproxy.cfg $(DESTDIR)$(EXAMPLEDIR)/haproxy.cfg
	$(MAKE) -s install-console

# The console's files and the two vendor files it loads (with their licences),
# in the layout the relay serves (--console-dir; /console/vendor/ is
# node_modules/@xterm/ below it).
CONSOLEDIR  := $(PREFIX)/share/tunnel-relay/console
CONSOLE_WEB := $(wildcard console/*.html console/css/*.css console/js/*.js)
.PHONY: install-console
install-console: console-assets
	for f in $(CONSOLE_WEB) $(XTERM_FILES) console/node_modules/@xterm/xterm/LICENSE \
	         console/node_modules/@xterm/addon-fit/LICENSE; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(CONSOLEDIR)/$${f#console/}" || exit 1; \
	done

# ---- static localproxy (make static; docs/install.md) ------------------------
# One file with no shared-library dependency for operators on any Linux:
# build/static/localproxy-x86_64 and -aarch64, from Debian's static OpenSSL,
# protobuf-c and glibc (the arm64 ones from the multiarch -dev packages).
STATIC_DIR := build/static
STATIC_BINS := $(STATIC_DIR)/localproxy-x86_64 $(STATIC_DIR)/localproxy-aarch64
static_tools_x86_64  := CC=x86_64-linux-gnu-gcc STRIP=strip
static_tools_aarch64 := CC=aarch64-linux-gnu-gcc STRIP=aarch64-linux-gnu-strip \
	PKG_CONFIG="env PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config"

static: $(STATIC_BINS)
	@ls -l $(STATIC_BINS)

$(STATIC_DIR)/localproxy-%: FORCE
	$(MAKE) STATIC=1 SAN=0 BUILD=$(STATIC_DIR)/$* $(static_tools_$*) $(STATIC_DIR)/$*/bin/localproxy
	$(if $(findstring aarch64,$*),aarch64-linux-gnu-strip,strip) -o $@ $(STATIC_DIR)/$*/bin/localproxy

FORCE:

# ---- Debian packages (packaging/debian; docs/install.md) --------------------
# make deb [ARCH=arm64|armhf]: .deb files in build/deb/ARCH/, built by
# dpkg-buildpackage from a copy of the source (the work tree stays as it is:
# debhelper writes into debian/ and ..), then checked by lintian. Another
# architecture than the machine's builds the device side only (the profile
# pkg.secure-tunnel.device): localproxy and tunnel-agent.
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
ARCH        ?= $(NATIVE_ARCH)
DEB_DIR     := build/deb/$(ARCH)
DEB_CROSS   := $(if $(filter $(NATIVE_ARCH),$(ARCH)),,-a$(ARCH) -Ppkg.secure-tunnel.device)
DEB_JOBS    ?= 2

# Rebuilt only when a file that goes into them changed (the e2e suite runs
# twice in make check; tests/e2e/test_packages.py).
DEB_INPUTS  := Makefile VERSION $(shell find agent common proto proxy relay tunnelctl packaging \
                 $(wildcard console term) -type f 2>/dev/null)

deb: $(DEB_DIR)/.built
	@ls -l $(DEB_DIR)/*.deb

$(DEB_DIR)/.built: $(DEB_INPUTS)
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar --exclude=./build --exclude=./.git --exclude=./tests -cf - . | tar -C $(DEB_DIR)/src -xf -
	rm -rf $(DEB_DIR)/src/debian
	cp -rL packaging/debian $(DEB_DIR)/src/debian
	printf 'secure-tunnel (%s) unstable; urgency=medium\n\n  * Built from this tree by make deb.\n\n -- %s  %s\n' \
		"$(VERSION)" "$$(sed -n 's/^Maintainer: //p' packaging/debian/control)" \
		"$$(date -R -d @$${SOURCE_DATE_EPOCH:-$$(date +%s)})" > $(DEB_DIR)/src/debian/changelog
	cd $(DEB_DIR)/src && DEB_BUILD_OPTIONS="noddebs nocheck parallel=$(DEB_JOBS)" \
		dpkg-buildpackage -b -us -uc $(DEB_CROSS)
	lintian --fail-on error --suppress-tags-from-file packaging/debian/lintian-ignored \
		$(DEB_DIR)/*.deb
	touch $@

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
