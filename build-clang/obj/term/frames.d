build-clang/obj/term/frames.o: term/frames.c term/frames.h \
  common/bytequeue.h common/term_frame.h common/io.h common/log.h

term/frames.h:

common/bytequeue.h:

common/term_frame.h:

common/io.h:

common/log.h:
