build-clang/obj/relay/adduser.o: relay/adduser.c relay/adduser.h \
  common/token.h relay/console_users.h relay/console_auth.h \
  relay/password_hash.h

relay/adduser.h:

common/token.h:

relay/console_users.h:

relay/console_auth.h:

relay/password_hash.h:
