build-clang/obj/relay/relay_options.o: relay/relay_options.c \
  relay/relay_options.h common/hostport.h common/log.h proto/wire.h \
  relay/api.h relay/registry.h common/token.h relay/registry_index.h \
  relay/tunnel_ops.h relay/presence_payload.h relay/things.h \
  relay/relay_conf.h relay/store_rows.h

relay/relay_options.h:

common/hostport.h:

common/log.h:

proto/wire.h:

relay/api.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/presence_payload.h:

relay/things.h:

relay/relay_conf.h:

relay/store_rows.h:
