build-clang/obj/term/options.o: term/options.c term/options.h \
  common/hostport.h proto/wire.h common/log.h common/token.h

term/options.h:

common/hostport.h:

proto/wire.h:

common/log.h:

common/token.h:
