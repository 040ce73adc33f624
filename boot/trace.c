/* The boot trace as text and as JSON (trace.h): pure. */
#include "trace.h"

#include <string.h>

#define NAME_MAX_LEN 32
#define VALUE_MAX_LEN 48

void trace_set_guest(struct trace *t, const char *text, size_t len)
{
	t->len = 0;
	trace_add_guest(t, text, len);
}

void trace_add_guest(struct trace *t, const char *text, size_t len)
{
	size_t room = sizeof(t->guest) - 1 - t->len;
	if (len > room)
		len = room;
	memcpy(t->guest + t->len, text, len);
	t->len += len;
	t->guest[t->len] = '\0';
}

/* One line of the guest's text: [p, end). Returns the start of the next. */
static const char *next_line(const char *p, const char **end)
{
	const char *nl = strchr(p, '\n');
	*end = nl ? nl : p + strlen(p);
	return nl ? nl + 1 : *end;
}

static int is_name_char(char c, int fact)
{
	return (c >= 'a' && c <= 'z') || (fact && c == '_');
}

static int is_value_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '+' || c == '-';
}

/* "name=value" on [p, end): a step (name of a-z, value a decimal count of
 * microseconds) or a fact (name with a '_', value of [A-Za-z0-9.+-]).
 * Anything else is passed over. */
static int split(const char *p, const char *end, int fact, char name[NAME_MAX_LEN],
		 char value[VALUE_MAX_LEN])
{
	size_t n = 0, v = 0;
	int underscore = 0;
	for (; p < end && is_name_char(*p, fact); p++) {
		if (n == NAME_MAX_LEN - 1)
			return 0;
		underscore |= *p == '_';
		name[n++] = *p;
	}
	if (!n || p == end || *p++ != '=' || underscore != fact)
		return 0;
	for (; p < end; p++) {
		if (v == VALUE_MAX_LEN - 1 || !is_value_char(*p))
			return 0;
		value[v++] = *p;
	}
	name[n] = value[v] = '\0';
	return v > 0;
}

/* A JSON number as JSON spells it: -?(0|[1-9][0-9]*), no more than 18
 * digits. Guest values that are not get quoted. */
static int json_integer(const char *v)
{
	const char *d = v + (*v == '-');
	size_t n = strspn(d, "0123456789");
	return n > 0 && n <= 18 && d[n] == '\0' && !(d[0] == '0' && n > 1);
}

/* A step's value: microseconds as a JSON integer, or -1 if it is not one. */
static int step_ms(const char *value, double *ms)
{
	if (!json_integer(value))
		return -1;
	long long us = 0;
	for (const char *d = value + (*value == '-'); *d; d++)
		us = us * 10 + (*d - '0');
	*ms = (double)(*value == '-' ? -us : us) / 1000.0;
	return 0;
}

/* Calls fn for each step (fact == 0) or fact (1) of the guest's text. */
static void each(const struct trace *t, int fact,
		 void (*fn)(void *ctx, const char *name, const char *value, const char *rest),
		 void *ctx)
{
	char name[NAME_MAX_LEN], value[VALUE_MAX_LEN];
	const char *end;
	for (const char *p = t->guest, *next; *p; p = next) {
		next = next_line(p, &end);
		if (split(p, end, fact, name, value))
			fn(ctx, name, value, next);
	}
}

static void print_step(void *ctx, const char *name, const char *value, const char *rest)
{
	(void)rest;
	double ms;
	if (step_ms(value, &ms) == 0)
		fprintf(ctx, "    %-10s %9.1f\n", name, ms);
}

static void print_fact(void *ctx, const char *name, const char *value, const char *rest)
{
	(void)rest;
	fprintf(ctx, "    %-16s %s\n", name, value);
}

void trace_print(const struct trace *t, FILE *f)
{
	fprintf(f, "wisp trace (ms)\n  guest, since the kernel started:\n");
	each(t, 0, print_step, f);
	each(t, 1, print_fact, f);
	fprintf(f, "  host, since launch:\n");
	if (t->ready)
		fprintf(f, "    %-10s %9.1f\n", "ready", t->ready / 1000.0);
	fprintf(f, "    %-10s %9.1f\n    %-10s %9.1f\n", "hello", t->hello / 1000.0, "status",
		t->status / 1000.0);
	if (t->has_vm)
		fprintf(f, "    %-10s %9.1f\n", "vm gone", t->gone / 1000.0);
}

struct json {
	FILE *f;
	int first;
};

static void json_step(void *ctx, const char *name, const char *value, const char *rest)
{
	(void)rest;
	struct json *j = ctx;
	double ms;
	if (step_ms(value, &ms) < 0)
		return;
	fprintf(j->f, "%s\"%s\": %.3f", j->first ? "" : ", ", name, ms);
	j->first = 0;
}

/* Is there a later line "name=..." in rest? */
static int said_again(const char *name, const char *rest)
{
	size_t n = strlen(name);
	for (const char *p = rest, *end, *next; *p; p = next) {
		next = next_line(p, &end);
		if ((size_t)(end - p) > n && !strncmp(p, name, n) && p[n] == '=')
			return 1;
	}
	return 0;
}

static void json_fact(void *ctx, const char *name, const char *value, const char *rest)
{
	struct json *j = ctx;
	/* An exec reports the clock again: its figures replace the boot's. */
	if (said_again(name, rest))
		return;
	/* Names are [a-z_] and values [A-Za-z0-9.+-]: nothing to escape. */
	fprintf(j->f, json_integer(value) ? "%s\"%s\": %s" : "%s\"%s\": \"%s\"",
		j->first ? "" : ", ", name, value);
	j->first = 0;
}

void trace_write_json(const struct trace *t, int exit_status, FILE *f)
{
	struct json j = { f, 1 };
	fprintf(f, "{\"guest_ms\": {");
	each(t, 0, json_step, &j);
	fprintf(f, "}, \"guest_facts\": {");
	j.first = 1;
	each(t, 1, json_fact, &j);
	fprintf(f, "}, \"host_ms\": {");
	if (t->ready)
		fprintf(f, "\"ready\": %.3f, ", t->ready / 1000.0);
	fprintf(f, "\"hello\": %.3f, \"status\": %.3f, \"vm_gone\": %.3f}, \"exit_status\": %d}\n",
		t->hello / 1000.0, t->status / 1000.0, t->gone / 1000.0, exit_status);
}
