build-clang/obj/agent/presence.o: agent/presence.c agent/presence.h \
  agent/config.h

agent/presence.h:

agent/config.h:
