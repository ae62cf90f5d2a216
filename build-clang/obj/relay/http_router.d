build-clang/obj/relay/http_router.o: relay/http_router.c \
  relay/http_router.h common/log.h relay/listener.h

relay/http_router.h:

common/log.h:

relay/listener.h:
