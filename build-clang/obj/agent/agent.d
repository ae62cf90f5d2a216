build-clang/obj/agent/agent.o: agent/agent.c agent/agent.h agent/config.h \
  agent/launch.h agent/notification.h common/token.h proto/wire.h \
  agent/mqtt.h common/mqtt_client.h agent/presence.h agent/seen.h \
  agent/spawn.h agent/supervisor.h common/clock.h common/log.h

agent/agent.h:

agent/config.h:

agent/launch.h:

agent/notification.h:

common/token.h:

proto/wire.h:

agent/mqtt.h:

common/mqtt_client.h:

agent/presence.h:

agent/seen.h:

agent/spawn.h:

agent/supervisor.h:

common/clock.h:

common/log.h:
