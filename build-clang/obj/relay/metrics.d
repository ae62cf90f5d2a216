build-clang/obj/relay/metrics.o: relay/metrics.c relay/metrics.h

relay/metrics.h:
