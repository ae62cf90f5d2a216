build-clang/obj/relay/store_worker.o: relay/store_worker.c \
  relay/store_worker.h relay/store.h relay/registry.h common/token.h \
  proto/wire.h relay/registry_index.h common/text.h

relay/store_worker.h:

relay/store.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/text.h:
