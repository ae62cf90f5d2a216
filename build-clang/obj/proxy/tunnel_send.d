build-clang/obj/proxy/tunnel_send.o: proxy/tunnel_send.c common/log.h \
  proxy/proxy.h common/bytequeue.h proto/frame.h proto/wire.h \
  proto/message.h proxy/backoff.h proxy/mapping.h common/hostport.h \
  proxy/options.h proxy/ws_client.h common/ev.h

common/log.h:

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

common/ev.h:
