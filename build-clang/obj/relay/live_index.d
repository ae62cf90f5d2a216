build-clang/obj/relay/live_index.o: relay/live_index.c relay/live_index.h

relay/live_index.h:
