build-clang/obj/proxy/tunnel.o: proxy/tunnel.c proxy/tunnel.h \
  proxy/mapping.h common/hostport.h proto/wire.h proxy/options.h \
  common/ev.h common/log.h proto/ws_codec.h proxy/io_sockets.h \
  proxy/local_sock.h proxy/local_udp.h proxy/proxy.h common/bytequeue.h \
  proto/frame.h proto/message.h proxy/backoff.h proxy/ws_client.h

proxy/tunnel.h:

proxy/mapping.h:

common/hostport.h:

proto/wire.h:

proxy/options.h:

common/ev.h:

common/log.h:

proto/ws_codec.h:

proxy/io_sockets.h:

proxy/local_sock.h:

proxy/local_udp.h:

proxy/proxy.h:

common/bytequeue.h:

proto/frame.h:

proto/message.h:

proxy/backoff.h:

proxy/ws_client.h:
