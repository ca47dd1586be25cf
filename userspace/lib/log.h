/* Levelled logging for both binaries: text or JSON lines on stderr. */
#ifndef BPFMIRROR_LOG_H
#define BPFMIRROR_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON,
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_set_format(enum log_format fmt);
/* Sets the program name printed before text lines ("bpfmirror: ..."). */
void log_set_ident(const char *ident);
/* Parses "error|warn|info|debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/* Routes libbpf's own messages through this module (debug ones at -vv). */
void log_capture_libbpf(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
