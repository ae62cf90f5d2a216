build-clang/obj/relay/terminals.o: relay/terminals.c relay/terminals.h \
  relay/console_auth.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h common/bytequeue.h \
  common/log.h common/term_frame.h relay/api.h relay/audit.h \
  relay/host_keys.h relay/http_api.h relay/http_router.h relay/metrics.h \
  relay/terminal.h relay/terminal_helper.h

relay/terminals.h:

relay/console_auth.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

common/bytequeue.h:

common/log.h:

common/term_frame.h:

relay/api.h:

relay/audit.h:

relay/host_keys.h:

relay/http_api.h:

relay/http_router.h:

relay/metrics.h:

relay/terminal.h:

relay/terminal_helper.h:
