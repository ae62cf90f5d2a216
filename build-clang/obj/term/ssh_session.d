build-clang/obj/term/ssh_session.o: term/ssh_session.c term/ssh_session.h \
  term/messages.h

term/ssh_session.h:

term/messages.h:
