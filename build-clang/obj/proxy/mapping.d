build-clang/obj/proxy/mapping.o: proxy/mapping.c proxy/mapping.h \
  common/hostport.h proto/wire.h proto/message.h

proxy/mapping.h:

common/hostport.h:

proto/wire.h:

proto/message.h:
