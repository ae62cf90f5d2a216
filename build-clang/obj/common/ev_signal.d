build-clang/obj/common/ev_signal.o: common/ev_signal.c \
  common/ev_internal.h common/ev.h

common/ev_internal.h:

common/ev.h:
