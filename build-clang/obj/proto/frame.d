build-clang/obj/proto/frame.o: proto/frame.c proto/frame.h proto/wire.h

proto/frame.h:

proto/wire.h:
