build-clang/obj/proxy/main.o: proxy/main.c common/log.h proxy/mapping.h \
  common/hostport.h proto/wire.h proxy/options.h proxy/tunnel.h

common/log.h:

proxy/mapping.h:

common/hostport.h:

proto/wire.h:

proxy/options.h:

proxy/tunnel.h:
