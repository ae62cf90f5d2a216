build-clang/obj/relay/notify_outbox.o: relay/notify_outbox.c \
  relay/notify_outbox.h relay/pending_notification.h relay/registry.h \
  common/token.h proto/wire.h relay/registry_index.h relay/store.h \
  common/log.h relay/notify.h relay/notify_payload.h

relay/notify_outbox.h:

relay/pending_notification.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/store.h:

common/log.h:

relay/notify.h:

relay/notify_payload.h:
