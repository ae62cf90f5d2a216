build-clang/obj/agent/launch.o: agent/launch.c agent/launch.h \
  agent/config.h agent/notification.h common/token.h proto/wire.h

agent/launch.h:

agent/config.h:

agent/notification.h:

common/token.h:

proto/wire.h:
