build-clang/obj/relay/api.o: relay/api.c relay/api.h relay/registry.h \
  common/token.h proto/wire.h relay/registry_index.h relay/tunnel_ops.h \
  relay/api_things.h relay/things.h relay/store.h

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/api_things.h:

relay/things.h:

relay/store.h:
