build-clang/obj/common/config_line.o: common/config_line.c \
  common/config_line.h

common/config_line.h:
