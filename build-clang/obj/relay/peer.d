build-clang/obj/relay/peer.o: relay/peer.c relay/peer.h \
  common/bytequeue.h relay/admit.h proto/wire.h relay/registry.h \
  common/token.h relay/registry_index.h relay/metrics.h common/log.h \
  proto/frame.h proto/message.h proto/ws_codec.h relay/cluster.h \
  relay/live_index.h relay/session.h relay/store.h

relay/peer.h:

common/bytequeue.h:

relay/admit.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/metrics.h:

common/log.h:

proto/frame.h:

proto/message.h:

proto/ws_codec.h:

relay/cluster.h:

relay/live_index.h:

relay/session.h:

relay/store.h:
