build-clang/obj/common/hostport.o: common/hostport.c common/hostport.h

common/hostport.h:
