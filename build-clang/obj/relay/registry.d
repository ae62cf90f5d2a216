build-clang/obj/relay/registry.o: relay/registry.c relay/registry.h \
  common/token.h proto/wire.h relay/registry_index.h common/text.h \
  proto/message.h

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/text.h:

proto/message.h:
