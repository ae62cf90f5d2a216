build-clang/obj/relay/console_reply.o: relay/console_reply.c \
  common/token.h relay/console_state.h relay/console.h relay/api.h \
  relay/registry.h proto/wire.h relay/registry_index.h \
  relay/tunnel_ops.h relay/console_auth.h relay/console_sessions.h \
  relay/console_static.h relay/console_users.h relay/http_router.h \
  relay/signin_throttle.h

common/token.h:

relay/console_state.h:

relay/console.h:

relay/api.h:

relay/registry.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/console_auth.h:

relay/console_sessions.h:

relay/console_static.h:

relay/console_users.h:

relay/http_router.h:

relay/signin_throttle.h:
