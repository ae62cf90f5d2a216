build-clang/obj/agent/seen.o: agent/seen.c agent/seen.h common/token.h

agent/seen.h:

common/token.h:
