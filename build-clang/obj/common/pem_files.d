build-clang/obj/common/pem_files.o: common/pem_files.c common/pem_files.h \
  common/text.h

common/pem_files.h:

common/text.h:
