build-clang/obj/relay/presence_payload.o: relay/presence_payload.c \
  relay/presence_payload.h relay/things.h proto/wire.h relay/registry.h \
  common/token.h relay/registry_index.h common/text.h proto/message.h \
  relay/notify_payload.h

relay/presence_payload.h:

relay/things.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

common/text.h:

proto/message.h:

relay/notify_payload.h:
