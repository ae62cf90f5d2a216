build-clang/obj/relay/tunnel_ops.o: relay/tunnel_ops.c relay/tunnel_ops.h \
  common/token.h relay/registry.h proto/wire.h relay/registry_index.h \
  common/log.h common/text.h proto/message.h relay/cluster.h \
  proto/ws_codec.h

relay/tunnel_ops.h:

common/token.h:

relay/registry.h:

proto/wire.h:

relay/registry_index.h:

common/log.h:

common/text.h:

proto/message.h:

relay/cluster.h:

proto/ws_codec.h:
