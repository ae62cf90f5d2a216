build-clang/obj/relay/console_sessions.o: relay/console_sessions.c \
  relay/console_sessions.h relay/console_auth.h common/token.h

relay/console_sessions.h:

relay/console_auth.h:

common/token.h:
