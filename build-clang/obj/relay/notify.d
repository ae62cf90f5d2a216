build-clang/obj/relay/notify.o: relay/notify.c relay/notify.h \
  relay/notify_payload.h common/clock.h common/hostport.h common/log.h \
  common/mqtt_client.h common/text.h relay/presence_payload.h \
  relay/things.h proto/wire.h relay/registry.h common/token.h \
  relay/registry_index.h

relay/notify.h:

relay/notify_payload.h:

common/clock.h:

common/hostport.h:

common/log.h:

common/mqtt_client.h:

common/text.h:

relay/presence_payload.h:

relay/things.h:

proto/wire.h:

relay/registry.h:

common/token.h:

relay/registry_index.h:
