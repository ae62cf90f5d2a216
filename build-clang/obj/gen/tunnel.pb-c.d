build-clang/obj/gen/tunnel.pb-c.o: build-clang/gen/proto/tunnel.pb-c.c \
  build-clang/gen/proto/tunnel.pb-c.h

build-clang/gen/proto/tunnel.pb-c.h:
