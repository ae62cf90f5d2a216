build-clang/obj/relay/notify_payload.o: relay/notify_payload.c \
  relay/notify_payload.h proto/wire.h

relay/notify_payload.h:

proto/wire.h:
