build-clang/obj/relay/store_uri.o: relay/store_uri.c relay/store_uri.h

relay/store_uri.h:
