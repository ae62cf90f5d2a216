build-clang/obj/relay/refusal_log.o: relay/refusal_log.c \
  relay/refusal_log.h

relay/refusal_log.h:
