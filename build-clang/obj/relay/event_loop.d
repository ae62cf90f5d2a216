build-clang/obj/relay/event_loop.o: relay/event_loop.c relay/event_loop.h

relay/event_loop.h:
