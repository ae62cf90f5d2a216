build-clang/obj/proto/message.o: proto/message.c proto/message.h \
  proto/wire.h build-clang/gen/proto/tunnel.pb-c.h

proto/message.h:

proto/wire.h:

build-clang/gen/proto/tunnel.pb-c.h:
