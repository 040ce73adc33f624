/* A strict JSON checker (RFC 8259, no extensions) for the tests of what
 * wisp writes as JSON: json_valid(text) is 1 for exactly one JSON value
 * with optional white space around it. */
#ifndef WISP_JSON_CHECK_H
#define WISP_JSON_CHECK_H

#include <string.h>

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *json_digits(const char *p)
{
	const char *start = p;
	while (*p >= '0' && *p <= '9')
		p++;
	return p > start ? p : NULL;
}

static const char *json_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = json_digits(p)))
		return NULL;
	if (*p == '.' && !(p = json_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		p = json_digits(p);
	}
	return p;
}

static const char *json_members(const char *p, int depth, char open, char close)
{
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (open == '{') {
			if (!(p = json_string(json_ws(p))))
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if (!(p = json_value(p, depth + 1)))
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 64)
		return NULL;
	p = json_ws(p);
	if (*p == '{' || *p == '[')
		p = json_members(p, depth, *p, *p == '{' ? '}' : ']');
	else if (*p == '"')
		p = json_string(p);
	else if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		p += 4;
	else if (!strncmp(p, "false", 5))
		p += 5;
	else
		p = json_number(p);
	return p ? json_ws(p) : NULL;
}

static inline int json_valid(const char *text)
{
	const char *end = json_value(text, 0);
	return end && *end == '\0';
}

#endif
