build-clang/obj/relay/aws_tags.o: relay/aws_tags.c relay/aws_tags.h \
  relay/tunnel_ops.h common/token.h relay/registry.h proto/wire.h \
  relay/registry_index.h

relay/aws_tags.h:

relay/tunnel_ops.h:

common/token.h:

relay/registry.h:

proto/wire.h:

relay/registry_index.h:
