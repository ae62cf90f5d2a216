build-clang/obj/common/ev_timer.o: common/ev_timer.c common/ev_internal.h \
  common/ev.h

common/ev_internal.h:

common/ev.h:
