build-clang/obj/proto/ws_codec.o: proto/ws_codec.c proto/ws_codec.h \
  proto/wire.h

proto/ws_codec.h:

proto/wire.h:
