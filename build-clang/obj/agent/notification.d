build-clang/obj/agent/notification.o: agent/notification.c \
  agent/notification.h agent/config.h common/token.h proto/wire.h \
  agent/json_type.h common/hostport.h

agent/notification.h:

agent/config.h:

common/token.h:

proto/wire.h:

agent/json_type.h:

common/hostport.h:
