build-clang/obj/relay/console_signin.o: relay/console_signin.c \
  common/log.h common/text.h relay/audit.h relay/console_state.h \
  relay/console.h relay/api.h relay/registry.h common/token.h \
  proto/wire.h relay/registry_index.h relay/tunnel_ops.h \
  relay/console_auth.h relay/console_sessions.h relay/console_static.h \
  relay/console_users.h relay/http_router.h relay/signin_throttle.h \
  relay/password_hash.h relay/password_worker.h

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

relay/password_hash.h:

relay/password_worker.h:
