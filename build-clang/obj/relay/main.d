build-clang/obj/relay/main.o: relay/main.c common/log.h common/lws_glue.h \
  common/bytequeue.h relay/adduser.h relay/aws_keys.h relay/sigv4.h \
  relay/fd_limit.h relay/notify.h relay/notify_payload.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  relay/relay_check.h relay/relay_options.h relay/relay_conf.h \
  relay/server.h relay/store.h relay/store_pg.h relay/store_rows.h \
  relay/things.h relay/store_sqlite.h relay/store_uri.h \
  relay/terminals.h relay/console_auth.h relay/tunnel_ops.h

common/log.h:

common/lws_glue.h:

common/bytequeue.h:

relay/adduser.h:

relay/aws_keys.h:

relay/sigv4.h:

relay/fd_limit.h:

relay/notify.h:

relay/notify_payload.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/relay_check.h:

relay/relay_options.h:

relay/relay_conf.h:

relay/server.h:

relay/store.h:

relay/store_pg.h:

relay/store_rows.h:

relay/things.h:

relay/store_sqlite.h:

relay/store_uri.h:

relay/terminals.h:

relay/console_auth.h:

relay/tunnel_ops.h:
