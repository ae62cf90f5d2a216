build-clang/obj/proxy/udp_flows.o: proxy/udp_flows.c proxy/udp_flows.h

proxy/udp_flows.h:
