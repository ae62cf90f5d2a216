build-clang/obj/relay/proxy_header.o: relay/proxy_header.c \
  relay/proxy_header.h

relay/proxy_header.h:
