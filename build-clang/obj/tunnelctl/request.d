build-clang/obj/tunnelctl/request.o: tunnelctl/request.c \
  tunnelctl/request.h tunnelctl/cli.h tunnelctl/url.h

tunnelctl/request.h:

tunnelctl/cli.h:

tunnelctl/url.h:
