/* tunnel-term: one browser terminal's SSH client (see term/run.h). */
#include "common/log.h"
#include "term/options.h"
#include "term/run.h"

int main(int argc, char **argv)
{
	struct term_options opt;
	int rc = term_options_parse(argc, argv, &opt);
	if (rc)
		return rc > 0 ? 0 : TERM_EXIT_USAGE;
	log_init("tunnel-term", opt.verbose);
	rc = term_run(&opt);
	term_options_free(&opt);
	return rc;
}
