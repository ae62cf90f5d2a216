build-clang/obj/tunnelctl/render.o: tunnelctl/render.c tunnelctl/render.h \
  tunnelctl/cli.h tunnelctl/url.h

tunnelctl/render.h:

tunnelctl/cli.h:

tunnelctl/url.h:
