build-clang/obj/relay/password_worker.o: relay/password_worker.c \
  relay/password_worker.h common/text.h relay/password_hash.h \
  relay/store_worker.h relay/store.h relay/registry.h common/token.h \
  proto/wire.h relay/registry_index.h

relay/password_worker.h:

common/text.h:

relay/password_hash.h:

relay/store_worker.h:

relay/store.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:
