build-clang/obj/relay/conn_gate.o: relay/conn_gate.c relay/conn_gate.h

relay/conn_gate.h:
