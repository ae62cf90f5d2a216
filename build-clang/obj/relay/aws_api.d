build-clang/obj/relay/aws_api.o: relay/aws_api.c relay/aws_api.h \
  relay/api.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h relay/aws_keys.h \
  relay/sigv4.h relay/aws_tags.h relay/store.h

relay/aws_api.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/aws_keys.h:

relay/sigv4.h:

relay/aws_tags.h:

relay/store.h:
