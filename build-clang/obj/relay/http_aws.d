build-clang/obj/relay/http_aws.o: relay/http_aws.c relay/http_aws.h \
  relay/api.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h relay/aws_keys.h \
  relay/sigv4.h relay/http_router.h relay/aws_api.h

relay/http_aws.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/aws_keys.h:

relay/sigv4.h:

relay/http_router.h:

relay/aws_api.h:
