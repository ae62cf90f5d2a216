build-clang/obj/relay/host_keys.o: relay/host_keys.c relay/host_keys.h \
  common/log.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/store.h

relay/host_keys.h:

common/log.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/store.h:
