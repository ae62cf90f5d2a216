build-clang/obj/common/lws_glue.o: common/lws_glue.c common/lws_glue.h \
  common/bytequeue.h common/log.h proto/frame.h proto/wire.h

common/lws_glue.h:

common/bytequeue.h:

common/log.h:

proto/frame.h:

proto/wire.h:
