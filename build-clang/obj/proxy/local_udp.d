build-clang/obj/proxy/local_udp.o: proxy/local_udp.c proxy/local_udp.h \
  proxy/local_sock.h common/ev.h common/io.h common/log.h \
  proxy/udp_flows.h

proxy/local_udp.h:

proxy/local_sock.h:

common/ev.h:

common/io.h:

common/log.h:

proxy/udp_flows.h:
