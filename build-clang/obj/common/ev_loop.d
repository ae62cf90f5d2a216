build-clang/obj/common/ev_loop.o: common/ev_loop.c common/ev_internal.h \
  common/ev.h

common/ev_internal.h:

common/ev.h:
