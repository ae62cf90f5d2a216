build-clang/obj/relay/console_things.o: relay/console_things.c \
  common/log.h common/text.h relay/audit.h relay/console_state.h \
  relay/console.h relay/api.h relay/registry.h common/token.h \
  proto/wire.h relay/registry_index.h relay/tunnel_ops.h \
  relay/console_auth.h relay/console_sessions.h relay/console_static.h \
  relay/console_users.h relay/http_router.h relay/signin_throttle.h \
  relay/http_api.h relay/metrics.h

common/log.h:

common/text.h:

relay/audit.h:

relay/console_state.h:

relay/console.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/console_auth.h:

relay/console_sessions.h:

relay/console_static.h:

relay/console_users.h:

relay/http_router.h:

relay/signin_throttle.h:

relay/http_api.h:

relay/metrics.h:
