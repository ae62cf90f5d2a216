build-clang/obj/relay/terminal.o: relay/terminal.c relay/terminal.h \
  relay/things.h proto/wire.h relay/registry.h common/token.h \
  relay/registry_index.h

relay/terminal.h:

relay/things.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:
