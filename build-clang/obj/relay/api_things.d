build-clang/obj/relay/api_things.o: relay/api_things.c relay/api_things.h \
  relay/api.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h relay/things.h \
  relay/notify_payload.h

relay/api_things.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/things.h:

relay/notify_payload.h:
