build-clang/obj/relay/session.o: relay/session.c relay/session.h \
  proto/message.h proto/wire.h relay/registry.h common/token.h \
  relay/registry_index.h

relay/session.h:

proto/message.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:
