build-clang/obj/relay/terminal_routes.o: relay/terminal_routes.c \
  relay/terminal_routes.h common/log.h proto/message.h proto/wire.h \
  relay/audit.h relay/console_auth.h relay/host_keys.h \
  relay/http_router.h relay/terminal.h relay/terminals.h \
  relay/registry.h common/token.h relay/registry_index.h \
  relay/tunnel_ops.h relay/things.h

relay/terminal_routes.h:

common/log.h:

proto/message.h:

proto/wire.h:

relay/audit.h:

relay/console_auth.h:

relay/host_keys.h:

relay/http_router.h:

relay/terminal.h:

relay/terminals.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/things.h:
