build-clang/obj/term/asciicast.o: term/asciicast.c term/asciicast.h

term/asciicast.h:
