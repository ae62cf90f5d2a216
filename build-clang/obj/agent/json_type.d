build-clang/obj/agent/json_type.o: agent/json_type.c agent/json_type.h

agent/json_type.h:
