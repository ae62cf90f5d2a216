build-clang/obj/relay/signin_throttle.o: relay/signin_throttle.c \
  relay/signin_throttle.h

relay/signin_throttle.h:
