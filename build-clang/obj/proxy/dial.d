build-clang/obj/proxy/dial.o: proxy/dial.c proxy/dial.h common/log.h

proxy/dial.h:

common/log.h:
