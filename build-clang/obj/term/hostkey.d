build-clang/obj/term/hostkey.o: term/hostkey.c term/hostkey.h

term/hostkey.h:
