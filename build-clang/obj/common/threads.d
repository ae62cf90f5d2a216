build-clang/obj/common/threads.o: common/threads.c common/threads.h

common/threads.h:
