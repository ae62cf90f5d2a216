build-clang/obj/proxy/local_stdio.o: proxy/local_stdio.c \
  proxy/local_stdio.h proxy/local_sock.h common/ev.h common/io.h \
  common/log.h proxy/local_queue.h common/bytequeue.h

proxy/local_stdio.h:

proxy/local_sock.h:

common/ev.h:

common/io.h:

common/log.h:

proxy/local_queue.h:

common/bytequeue.h:
