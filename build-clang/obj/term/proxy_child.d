build-clang/obj/term/proxy_child.o: term/proxy_child.c term/proxy_child.h \
  term/options.h common/hostport.h proto/wire.h common/log.h \
  common/token.h

term/proxy_child.h:

term/options.h:

common/hostport.h:

proto/wire.h:

common/log.h:

common/token.h:
