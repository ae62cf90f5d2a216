build-clang/obj/relay/console_users.o: relay/console_users.c \
  relay/console_users.h relay/console_auth.h common/log.h common/text.h

relay/console_users.h:

relay/console_auth.h:

common/log.h:

common/text.h:
