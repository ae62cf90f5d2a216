/* tunnel-relay adduser: adds or replaces a console user in a users file. */
#ifndef RELAY_ADDUSER_H
#define RELAY_ADDUSER_H

/* argv[0] is "adduser". Returns the exit status (0, 1 failure, 2 usage). */
int adduser_main(int argc, char **argv);

#endif
