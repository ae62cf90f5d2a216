build-clang/obj/tunnelctl/main.o: tunnelctl/main.c tunnelctl/cli.h \
  tunnelctl/http.h tunnelctl/render.h tunnelctl/request.h \
  tunnelctl/session.h

tunnelctl/cli.h:

tunnelctl/http.h:

tunnelctl/render.h:

tunnelctl/request.h:

tunnelctl/session.h:
