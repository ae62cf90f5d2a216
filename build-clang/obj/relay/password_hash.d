build-clang/obj/relay/password_hash.o: relay/password_hash.c \
  relay/password_hash.h

relay/password_hash.h:
