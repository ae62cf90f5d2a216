#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *log_program = "tunnel";
static int log_max_level = LOG_INFO;

static const char *const level_names[] = {
	"", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE",
};

void log_init(const char *program, int level)
{
	log_program = program;
	log_max_level = level;
}

int log_level(void)
{
	return log_max_level;
}

__attribute__((format(printf, 2, 0)))
static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level == LOG_OFF || (int)level > log_max_level)
		return;
	struct timespec now;
	struct tm tm;
	char stamp[32] = "";
	if (clock_gettime(CLOCK_REALTIME, &now) == 0 && gmtime_r(&now.tv_sec, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One fprintf per line keeps lines whole when several processes share stderr. */
	fprintf(stderr, "%s.%03ldZ %s %s %s\n", stamp, now.tv_nsec / 1000000L,
		log_program, level_names[level], line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
