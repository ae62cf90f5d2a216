build-clang/obj/proxy/local_queue.o: proxy/local_queue.c \
  proxy/local_queue.h common/bytequeue.h proxy/local_sock.h common/ev.h

proxy/local_queue.h:

common/bytequeue.h:

proxy/local_sock.h:

common/ev.h:
