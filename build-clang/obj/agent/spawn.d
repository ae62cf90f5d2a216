build-clang/obj/agent/spawn.o: agent/spawn.c agent/spawn.h agent/launch.h \
  agent/config.h agent/notification.h common/token.h proto/wire.h

agent/spawn.h:

agent/launch.h:

agent/config.h:

agent/notification.h:

common/token.h:

proto/wire.h:
