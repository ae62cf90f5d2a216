build-clang/obj/proxy/ca_bundle.o: proxy/ca_bundle.c proxy/ca_bundle.h

proxy/ca_bundle.h:
