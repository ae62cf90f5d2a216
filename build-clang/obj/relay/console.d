build-clang/obj/relay/console.o: relay/console.c relay/console.h \
  relay/api.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h relay/console_auth.h \
  common/log.h common/text.h relay/audit.h relay/console_state.h \
  relay/console_sessions.h relay/console_static.h relay/console_users.h \
  relay/http_router.h relay/signin_throttle.h relay/password_worker.h

relay/console.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/console_auth.h:

common/log.h:

common/text.h:

relay/audit.h:

relay/console_state.h:

relay/console_sessions.h:

relay/console_static.h:

relay/console_users.h:

relay/http_router.h:

relay/signin_throttle.h:

relay/password_worker.h:
