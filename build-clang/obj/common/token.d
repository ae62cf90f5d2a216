build-clang/obj/common/token.o: common/token.c common/token.h \
  proto/wire.h

common/token.h:

proto/wire.h:
