build-clang/obj/proxy/ws_frames.o: proxy/ws_frames.c \
  proxy/ws_client_internal.h proto/wire.h proto/ws_codec.h \
  proxy/ws_client.h common/ev.h

proxy/ws_client_internal.h:

proto/wire.h:

proto/ws_codec.h:

proxy/ws_client.h:

common/ev.h:
