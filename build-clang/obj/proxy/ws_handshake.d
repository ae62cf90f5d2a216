build-clang/obj/proxy/ws_handshake.o: proxy/ws_handshake.c common/io.h \
  common/log.h proxy/tls_client.h proxy/ws_client_internal.h \
  proto/wire.h proto/ws_codec.h proxy/ws_client.h common/ev.h

common/io.h:

common/log.h:

proxy/tls_client.h:

proxy/ws_client_internal.h:

proto/wire.h:

proto/ws_codec.h:

proxy/ws_client.h:

common/ev.h:
