build-clang/obj/relay/store_sqlite.o: relay/store_sqlite.c \
  relay/store_sqlite.h relay/store.h relay/registry.h common/token.h \
  proto/wire.h relay/registry_index.h common/text.h proto/message.h \
  relay/notify_payload.h relay/pending_notification.h \
  relay/presence_payload.h relay/things.h relay/store_rows.h \
  relay/store_worker.h

relay/store_sqlite.h:

relay/store.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/text.h:

proto/message.h:

relay/notify_payload.h:

relay/pending_notification.h:

relay/presence_payload.h:

relay/things.h:

relay/store_rows.h:

relay/store_worker.h:
