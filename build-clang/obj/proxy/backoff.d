build-clang/obj/proxy/backoff.o: proxy/backoff.c proxy/backoff.h

proxy/backoff.h:
