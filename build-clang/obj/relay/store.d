build-clang/obj/relay/store.o: relay/store.c relay/store.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  common/log.h relay/pending_notification.h

relay/store.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/log.h:

relay/pending_notification.h:
