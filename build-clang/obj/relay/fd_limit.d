build-clang/obj/relay/fd_limit.o: relay/fd_limit.c relay/fd_limit.h \
  common/log.h

relay/fd_limit.h:

common/log.h:
