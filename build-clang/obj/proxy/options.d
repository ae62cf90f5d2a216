build-clang/obj/proxy/options.o: proxy/options.c proxy/options.h \
  common/hostport.h proto/wire.h common/config_line.h common/log.h \
  common/token.h proto/message.h

proxy/options.h:

common/hostport.h:

proto/wire.h:

common/config_line.h:

common/log.h:

common/token.h:

proto/message.h:
