build-clang/obj/agent/supervisor.o: agent/supervisor.c agent/supervisor.h \
  agent/notification.h agent/config.h common/token.h proto/wire.h

agent/supervisor.h:

agent/notification.h:

agent/config.h:

common/token.h:

proto/wire.h:
