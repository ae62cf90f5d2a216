build-clang/obj/relay/peer_liveness.o: relay/peer_liveness.c \
  relay/peer_liveness.h common/log.h common/tcp_liveness.h

relay/peer_liveness.h:

common/log.h:

common/tcp_liveness.h:
