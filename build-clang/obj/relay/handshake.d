build-clang/obj/relay/handshake.o: relay/handshake.c relay/handshake.h \
  relay/admit.h proto/wire.h relay/registry.h common/token.h \
  relay/registry_index.h relay/cluster.h proto/ws_codec.h \
  relay/metrics.h relay/refusal_log.h relay/store.h common/clock.h \
  common/log.h relay/http_router.h

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

common/clock.h:

common/log.h:

relay/http_router.h:
