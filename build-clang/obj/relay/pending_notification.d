build-clang/obj/relay/pending_notification.o: \
  relay/pending_notification.c relay/pending_notification.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  proto/message.h

relay/pending_notification.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

proto/message.h:
