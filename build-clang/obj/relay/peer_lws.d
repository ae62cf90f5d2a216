build-clang/obj/relay/peer_lws.o: relay/peer_lws.c relay/peer_lws.h \
  relay/handshake.h relay/admit.h proto/wire.h relay/registry.h \
  common/token.h relay/registry_index.h relay/cluster.h proto/ws_codec.h \
  relay/metrics.h relay/refusal_log.h relay/store.h relay/peer.h \
  common/bytequeue.h common/lws_glue.h relay/http_router.h \
  relay/peer_liveness.h

relay/peer_lws.h:

relay/handshake.h:

relay/admit.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/cluster.h:

proto/ws_codec.h:

relay/metrics.h:

relay/refusal_log.h:

relay/store.h:

relay/peer.h:

common/bytequeue.h:

common/lws_glue.h:

relay/http_router.h:

relay/peer_liveness.h:
