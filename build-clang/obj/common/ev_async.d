build-clang/obj/common/ev_async.o: common/ev_async.c common/ev_internal.h \
  common/ev.h

common/ev_internal.h:

common/ev.h:
