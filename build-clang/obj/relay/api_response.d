build-clang/obj/relay/api_response.o: relay/api_response.c relay/api.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  relay/tunnel_ops.h

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:
