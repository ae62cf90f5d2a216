build-clang/obj/proxy/io_sockets.o: proxy/io_sockets.c proxy/io_sockets.h \
  common/ev.h proxy/local_sock.h proxy/local_udp.h proxy/proxy.h \
  common/bytequeue.h proto/frame.h proto/wire.h proto/message.h \
  proxy/backoff.h proxy/mapping.h common/hostport.h proxy/options.h \
  proxy/ws_client.h common/log.h proxy/local_stdio.h

proxy/io_sockets.h:

common/ev.h:

proxy/local_sock.h:

proxy/local_udp.h:

proxy/proxy.h:

common/bytequeue.h:

proto/frame.h:

proto/wire.h:

proto/message.h:

proxy/backoff.h:

proxy/mapping.h:

common/hostport.h:

proxy/options.h:

proxy/ws_client.h:

common/log.h:

proxy/local_stdio.h:
