build-clang/obj/relay/store_rows.o: relay/store_rows.c relay/store_rows.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  relay/things.h proto/message.h relay/notify_payload.h \
  relay/presence_payload.h

relay/store_rows.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/things.h:

proto/message.h:

relay/notify_payload.h:

relay/presence_payload.h:
