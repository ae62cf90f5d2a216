build-clang/obj/agent/cli.o: agent/cli.c agent/cli.h agent/config.h

agent/cli.h:

agent/config.h:
