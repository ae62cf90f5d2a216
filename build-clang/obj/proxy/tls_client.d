build-clang/obj/proxy/tls_client.o: proxy/tls_client.c proxy/tls_client.h \
  common/log.h common/text.h proxy/ca_bundle.h

proxy/tls_client.h:

common/log.h:

common/text.h:

proxy/ca_bundle.h:
