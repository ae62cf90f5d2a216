build-clang/obj/common/tcp_liveness.o: common/tcp_liveness.c \
  common/tcp_liveness.h

common/tcp_liveness.h:
