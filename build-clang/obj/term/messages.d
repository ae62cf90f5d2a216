build-clang/obj/term/messages.o: term/messages.c term/messages.h

term/messages.h:
