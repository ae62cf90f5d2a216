/* Leveled logging to stderr, one line per event, with a UTC timestamp.
 * Levels follow AWS localproxy's -v: 0 off, 1 fatal, 2 error, 3 warning,
 * 4 info (default), 5 debug, 6 trace. Never pass a token to these. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level {
	LOG_OFF = 0,
	LOG_FATAL = 1,
	LOG_ERROR = 2,
	LOG_WARN = 3,
	LOG_INFO = 4,
	LOG_DEBUG = 5,
	LOG_TRACE = 6,
};

/* Program name shown on each line, and the most verbose level printed. */
void log_init(const char *program, int level);
int log_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_fatal(...) log_msg(LOG_FATAL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_TRACE, __VA_ARGS__)

#endif
