build-clang/obj/proxy/local_sock.o: proxy/local_sock.c proxy/local_sock.h \
  common/ev.h common/bytequeue.h common/io.h common/log.h proxy/dial.h \
  proxy/local_queue.h

proxy/local_sock.h:

common/ev.h:

common/bytequeue.h:

common/io.h:

common/log.h:

proxy/dial.h:

proxy/local_queue.h:
