build-clang/obj/proxy/ws_client.o: proxy/ws_client.c \
  proxy/ws_client_internal.h proto/wire.h proto/ws_codec.h \
  proxy/ws_client.h common/ev.h common/io.h common/log.h \
  common/tcp_liveness.h proxy/dial.h proxy/tls_client.h

proxy/ws_client_internal.h:

proto/wire.h:

proto/ws_codec.h:

proxy/ws_client.h:

common/ev.h:

common/io.h:

common/log.h:

common/tcp_liveness.h:

proxy/dial.h:

proxy/tls_client.h:
