build-clang/obj/relay/admit.o: relay/admit.c relay/admit.h proto/wire.h \
  relay/registry.h common/token.h relay/registry_index.h

relay/admit.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:
