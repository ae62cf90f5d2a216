build-clang/obj/common/term_frame.o: common/term_frame.c \
  common/term_frame.h

common/term_frame.h:
