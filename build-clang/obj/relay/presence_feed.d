build-clang/obj/relay/presence_feed.o: relay/presence_feed.c \
  relay/presence_feed.h common/log.h relay/presence_payload.h \
  relay/things.h proto/wire.h relay/registry.h common/token.h \
  relay/registry_index.h relay/store.h

relay/presence_feed.h:

common/log.h:

relay/presence_payload.h:

relay/things.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:

relay/store.h:
