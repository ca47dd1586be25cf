/* Levelled logging for both binaries: text or JSON lines on stderr. */
#include "log.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static enum log_format cur_format = LOG_FMT_TEXT;
static const char *cur_ident = "bpfmirror";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_format(enum log_format fmt)
{
	cur_format = fmt;
}

void log_set_ident(const char *ident)
{
	cur_ident = ident;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char buf[2048];
	size_t len;
	int saved = errno;

	if (lvl > cur_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';

	if (cur_format == LOG_FMT_JSON) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(stderr, "{\"ts\":%lld.%03ld,\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"",
			(long long)ts.tv_sec, ts.tv_nsec / 1000000, level_names[lvl], cur_ident);
		json_escape(stderr, buf);
		fputs("\"}\n", stderr);
	} else if (lvl == LOG_LVL_INFO) {
		fprintf(stderr, "%s: %s\n", cur_ident, buf);
	} else {
		fprintf(stderr, "%s: %s: %s\n", cur_ident, level_names[lvl], buf);
	}
	errno = saved;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level lvl = level == LIBBPF_WARN   ? LOG_LVL_WARN
			     : level == LIBBPF_INFO ? LOG_LVL_DEBUG
						    : LOG_LVL_DEBUG;
	/* libbpf is chatty at INFO/DEBUG: show those only with -vv. */
	if (level == LIBBPF_DEBUG && cur_level < LOG_LVL_DEBUG)
		return 0;
	log_vmsg(lvl, fmt, ap);
	return 0;
}

void log_capture_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
