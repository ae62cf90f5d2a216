build-clang/obj/term/main.o: term/main.c common/log.h term/options.h \
  common/hostport.h proto/wire.h term/run.h

common/log.h:

term/options.h:

common/hostport.h:

proto/wire.h:

term/run.h:
