build-clang/obj/proxy/conn_table.o: proxy/conn_table.c common/log.h \
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
