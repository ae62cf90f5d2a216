build-clang/obj/agent/mqtt.o: agent/mqtt.c agent/mqtt.h agent/config.h \
  common/mqtt_client.h agent/notification.h common/token.h proto/wire.h \
  agent/presence.h common/text.h

agent/mqtt.h:

agent/config.h:

common/mqtt_client.h:

agent/notification.h:

common/token.h:

proto/wire.h:

agent/presence.h:

common/text.h:
