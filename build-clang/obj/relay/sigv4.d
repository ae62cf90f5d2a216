build-clang/obj/relay/sigv4.o: relay/sigv4.c relay/sigv4.h

relay/sigv4.h:
