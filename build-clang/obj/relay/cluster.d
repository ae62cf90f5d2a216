build-clang/obj/relay/cluster.o: relay/cluster.c relay/cluster.h \
  common/token.h proto/ws_codec.h relay/registry.h proto/wire.h \
  relay/registry_index.h

relay/cluster.h:

common/token.h:

proto/ws_codec.h:

relay/registry.h:

proto/wire.h:

relay/registry_index.h:
