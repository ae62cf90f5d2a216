build-clang/obj/tunnelctl/session.o: tunnelctl/session.c \
  tunnelctl/session.h tunnelctl/cli.h tunnelctl/http.h \
  tunnelctl/render.h tunnelctl/request.h tunnelctl/session_argv.h \
  tunnelctl/url.h

tunnelctl/session.h:

tunnelctl/cli.h:

tunnelctl/http.h:

tunnelctl/render.h:

tunnelctl/request.h:

tunnelctl/session_argv.h:

tunnelctl/url.h:
