build-clang/obj/agent/main.o: agent/main.c agent/agent.h agent/config.h \
  agent/cli.h common/log.h

agent/agent.h:

agent/config.h:

agent/cli.h:

common/log.h:
