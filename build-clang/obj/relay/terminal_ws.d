build-clang/obj/relay/terminal_ws.o: relay/terminal_ws.c \
  relay/terminal_ws.h common/log.h common/term_frame.h \
  relay/console_auth.h relay/handshake.h relay/admit.h proto/wire.h \
  relay/registry.h common/token.h relay/registry_index.h relay/cluster.h \
  proto/ws_codec.h relay/metrics.h relay/refusal_log.h relay/store.h \
  relay/http_router.h relay/terminal.h relay/terminals.h \
  relay/tunnel_ops.h

relay/terminal_ws.h:

common/log.h:

common/term_frame.h:

relay/console_auth.h:

relay/handshake.h:

relay/admit.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/cluster.h:

proto/ws_codec.h:

relay/metrics.h:

relay/refusal_log.h:

relay/store.h:

relay/http_router.h:

relay/terminal.h:

relay/terminals.h:

relay/tunnel_ops.h:
