build-clang/obj/relay/things.o: relay/things.c relay/things.h \
  proto/wire.h relay/registry.h common/token.h relay/registry_index.h

relay/things.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:
