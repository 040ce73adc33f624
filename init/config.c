#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/base64.h"
#include "../common/time_wire.h"

#define DEFAULT_ROWS 24
#define DEFAULT_COLS 80

static void warn(struct config *c, const char *fmt, ...)
{
	if (c->nwarnings >= CONFIG_MAX_WARNINGS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->warnings[c->nwarnings++], CONFIG_WARNING_LEN, fmt, ap);
	va_end(ap);
}

/* Splits the next word off *p (bounded by end) into out, as the kernel
 * does: blanks separate words, double quotes group and are dropped. */
static char *next_word(const char **p, const char *end, char **out)
{
	const char *s = *p;
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\0'))
		s++;
	if (s == end) {
		*p = s;
		return NULL;
	}
	char *word = *out;
	int quoted = 0;
	for (; s < end; s++) {
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\0'))
			break;
		*(*out)++ = *s;
	}
	*(*out)++ = '\0';
	*p = s;
	return word;
}

/* Decodes base64 text in place into a NUL-separated list stored into
 * list[0..max). Returns the count, or -1 when malformed. */
static int decode_list(char *text, char **list, int max)
{
	size_t n = strlen(text);
	unsigned char *buf = (unsigned char *)text;
	list[0] = NULL;
	long len = base64_decode(text, n, buf);
	if (len < 0)
		return -1;
	if (len == 0)
		return 0;
	if (buf[len - 1] != '\0')
		return -1; /* every item ends in NUL, the last one too */
	int count = 0;
	for (long i = 0; i < len; count++) {
		if (count == max)
			return -1;
		list[count] = (char *)buf + i;
		i += (long)strlen((char *)buf + i) + 1;
	}
	list[count] = NULL;
	return count;
}

static int parse_uint(const char *s, char stop, unsigned long max, unsigned long *v,
		      const char **end)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *e;
	unsigned long x = strtoul(s, &e, 10);
	if (errno || x > max || *e != stop)
		return -1;
	*v = x;
	if (end)
		*end = e;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int key_cmd(struct config *c, char *v)
{
	char *list[CONFIG_MAX_ARGS + 1];
	int n = decode_list(v, list, CONFIG_MAX_ARGS);
	if (n < 0)
		return -1;
	memcpy(c->argv, list, sizeof(char *) * (size_t)(n + 1));
	return 0;
}

static int key_env(struct config *c, char *v)
{
	char *list[CONFIG_MAX_ENV + 1];
	int n = decode_list(v, list, CONFIG_MAX_ENV);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (!strchr(list[i], '=') || list[i][0] == '=')
			return -1;
	memcpy(c->env, list, sizeof(char *) * (size_t)(n + 1));
	return 0;
}

static int key_cwd(struct config *c, char *v)
{
	char *list[2];
	if (decode_list(v, list, 1) != 1 || list[0][0] != '/')
		return -1;
	c->cwd = list[0];
	return 0;
}

static int key_tty(struct config *c, char *v)
{
	unsigned long rows, cols;
	const char *e;
	if (parse_bool(v, &c->tty) == 0)
		return 0;
	if (parse_uint(v, 'x', 0xffff, &rows, &e) || parse_uint(e + 1, '\0', 0xffff, &cols, NULL) ||
	    rows == 0 || cols == 0)
		return -1;
	c->tty = 1;
	c->rows = (unsigned short)rows;
	c->cols = (unsigned short)cols;
	return 0;
}

static int key_stdin(struct config *c, char *v)
{
	return parse_bool(v, &c->stdin_open);
}

static int key_poweroff(struct config *c, char *v)
{
	return parse_bool(v, &c->poweroff);
}

static int key_user(struct config *c, char *v)
{
	unsigned long uid, gid;
	const char *e;
	c->has_gid = 0;
	if (parse_uint(v, '\0', 0xfffffffeUL, &uid, NULL) == 0) {
		gid = uid;
	} else if (parse_uint(v, ':', 0xfffffffeUL, &uid, &e) ||
		   parse_uint(e + 1, '\0', 0xfffffffeUL, &gid, NULL)) {
		return -1;
	}
	if (strchr(v, ':'))
		c->has_gid = 1;
	c->has_user = 1;
	c->uid = (uid_t)uid;
	c->gid = (gid_t)gid;
	return 0;
}

static int valid_name(const char *v, size_t max, int hex_only)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return 0;
	for (const char *p = v; *p; p++) {
		int ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
		if (!hex_only)
			ok = ok || (*p >= 'g' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     *p == '-' || (*p == '.' && p != v);
		if (!ok)
			return 0;
	}
	return 1;
}

static int known_cache(const char *v)
{
	static const char *const caches[] = {
		"none", "mmap", "loose", "fscache", "auto", "always"
	};
	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		if (!strcmp(v, caches[i]))
			return 1;
	return 0;
}

/* Splits item at its commas into exactly n fields, in place. */
static int split_fields(char *item, char **field, int n)
{
	field[0] = item;
	for (int i = 1; i < n; i++) {
		char *comma = strchr(field[i - 1], ',');
		if (!comma)
			return -1;
		*comma = '\0';
		field[i] = comma + 1;
	}
	return 0;
}

static int parse_share(char *item, struct share *sh)
{
	/* The path comes last so that it may contain commas. */
	char *field[5];
	if (split_fields(item, field, 5) < 0)
		return -1;
	if (!strcmp(field[0], "9p"))
		sh->fs = SHARE_9P;
	else if (!strcmp(field[0], "virtiofs"))
		sh->fs = SHARE_VIRTIOFS;
	else
		return -1;
	if (!valid_name(field[1], 31, 0) || field[4][0] != '/')
		return -1;
	if (!strcmp(field[2], "ro"))
		sh->ro = 1;
	else if (!strcmp(field[2], "rw"))
		sh->ro = 0;
	else
		return -1;
	if (!known_cache(field[3]))
		return -1;
	sh->tag = field[1];
	sh->cache = field[3];
	sh->path = field[4];
	return 0;
}

static int key_root(struct config *c, char *v)
{
	static const char *const kinds[] = {
		[ROOT_9P] = "9p", [ROOT_VIRTIOFS] = "virtiofs", [ROOT_BLK] = "blk"
	};
	char *f[4];
	if (split_fields(v, f, 4) < 0 || strchr(f[3], ','))
		return -1;
	struct root r = { .kind = ROOT_NONE, .source = f[1], .opt = f[3] };
	for (int k = ROOT_9P; k <= ROOT_BLK; k++)
		if (!strcmp(f[0], kinds[k]))
			r.kind = (enum root_kind)k;
	if (r.kind == ROOT_NONE || !valid_name(f[1], 31, 0))
		return -1;
	if (!strcmp(f[2], "ro"))
		r.ro = 1;
	else if (strcmp(f[2], "rw"))
		return -1;
	if (r.kind == ROOT_9P && !known_cache(r.opt))
		return -1;
	if (r.kind == ROOT_BLK && strcmp(r.opt, "squashfs") && strcmp(r.opt, "erofs") &&
	    strcmp(r.opt, "ext4"))
		return -1;
	/* Only a block device can be written through; a share is exported
	 * read-only by the host. */
	if (!r.ro && (r.kind != ROOT_BLK || strcmp(r.opt, "ext4")))
		return -1;
	c->root = r;
	return 0;
}

static int key_init(struct config *c, char *v)
{
	if (v[0] != '/' || strlen(v) > 4095)
		return -1;
	c->init = v;
	return 0;
}

/* A dotted IPv4 address, into network order. */
static int parse_ipv4(const char *v, unsigned *out)
{
	unsigned a[4];
	char end;
	if (sscanf(v, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3], &end) != 4)
		return -1;
	unsigned char bytes[4];
	for (int i = 0; i < 4; i++) {
		if (a[i] > 255)
			return -1;
		bytes[i] = (unsigned char)a[i];
	}
	memcpy(out, bytes, 4);
	return 0;
}

/* "ADDR/PREFIX,GATEWAY,DNS,MTU" */
static int key_net(struct config *c, char *v)
{
	char addr[16], gw[16], dns[16];
	unsigned prefix, mtu;
	char end;
	struct net n = { .on = 1 };
	if (sscanf(v, "%15[0-9.]/%2u,%15[0-9.],%15[0-9.],%5u%c", addr, &prefix, gw, dns, &mtu,
		   &end) != 5 ||
	    prefix < 1 || prefix > 32 || (mtu != 0 && (mtu < 576 || mtu > 65520)) ||
	    parse_ipv4(addr, &n.addr) < 0 || parse_ipv4(gw, &n.gateway) < 0 ||
	    parse_ipv4(dns, &n.dns) < 0)
		return -1;
	n.prefix = prefix;
	n.mtu = mtu;
	n.has_alias = c->net.has_alias;
	n.alias = c->net.alias;
	c->net = n;
	return 0;
}

static int key_hostalias(struct config *c, char *v)
{
	if (parse_ipv4(v, &c->net.alias) < 0)
		return -1;
	c->net.has_alias = 1;
	return 0;
}

static int key_shares(struct config *c, char *v)
{
	char *list[CONFIG_MAX_SHARES + 1];
	struct share shares[CONFIG_MAX_SHARES];
	int n = decode_list(v, list, CONFIG_MAX_SHARES);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (parse_share(list[i], &shares[i]) < 0)
			return -1;
	/* cppcheck-suppress uninitvar ; parse_share filled shares[0..n) */
	memcpy(c->shares, shares, sizeof(shares[0]) * (size_t)n);
	c->nshares = (size_t)n;
	return 0;
}

static int key_hostname(struct config *c, char *v)
{
	if (!valid_name(v, 64, 0))
		return -1;
	c->hostname = v;
	return 0;
}

static int key_nonce(struct config *c, char *v)
{
	if (!valid_name(v, 32, 1))
		return -1;
	c->nonce = v;
	return 0;
}

static int key_io(struct config *c, char *v)
{
	if (!strcmp(v, "auto"))
		c->io = IO_AUTO;
	else if (!strcmp(v, "virtio"))
		c->io = IO_VIRTIO;
	else if (!strcmp(v, "console"))
		c->io = IO_CONSOLE;
	else if (!strcmp(v, "vsock"))
		c->io = IO_VSOCK;
	else
		return -1;
	return 0;
}

static int key_debug(struct config *c, char *v)
{
	return parse_bool(v, &c->debug);
}

static int key_timesync(struct config *c, char *v)
{
	unsigned long s;
	if (parse_uint(v, '\0', CONFIG_TIMESYNC_MAX_S, &s, NULL))
		return -1;
	c->timesync_s = (unsigned)s;
	return 0;
}

static int key_timeport(struct config *c, char *v)
{
	unsigned long port;
	if (parse_uint(v, '\0', 0xfffffffeUL, &port, NULL) || port == 0)
		return -1;
	c->timeport = (unsigned)port;
	return 0;
}

/* SECONDS[.FRACTION]: up to 9 digits of fraction, before 2^62 ns. */
static int key_now(struct config *c, char *v)
{
	unsigned long sec;
	const char *e;
	if (parse_uint(v, '.', TIME_WIRE_MAX_NS / 1000000000ULL - 1, &sec, &e) &&
	    parse_uint(v, '\0', TIME_WIRE_MAX_NS / 1000000000ULL - 1, &sec, &e))
		return -1;
	long long ns = 0, scale = 100000000;
	if (*e == '.') {
		if (!e[1])
			return -1;
		for (e++; *e; e++, scale /= 10) {
			if (*e < '0' || *e > '9' || scale == 0)
				return -1;
			ns += (*e - '0') * scale;
		}
	}
	if (sec == 0 && ns == 0)
		return -1;
	c->has_now = 1;
	c->now_ns = (long long)sec * 1000000000LL + ns;
	return 0;
}

static const struct {
	const char *name;
	int (*parse)(struct config *c, char *value);
} keys[] = {
	{ "cmd", key_cmd },
	{ "env", key_env },
	{ "cwd", key_cwd },
	{ "tty", key_tty },
	{ "stdin", key_stdin },
	{ "user", key_user },
	{ "hostname", key_hostname },
	{ "nonce", key_nonce },
	{ "io", key_io },
	{ "debug", key_debug },
	{ "shares", key_shares },
	{ "timesync", key_timesync },
	{ "timeport", key_timeport },
	{ "now", key_now },
	{ "poweroff", key_poweroff },
	{ "root", key_root },
	{ "init", key_init },
	{ "net", key_net },
	{ "hostalias", key_hostalias },
};

/* Warnings quote at most this much of what they did not understand. */
#define QUOTE_MAX 48

static void apply_key(struct config *c, char *word)
{
	char *name = word + strlen("wisp.");
	char *eq = strchr(name, '=');
	if (!eq) {
		warn(c, "ignoring wisp.%.*s: no value", QUOTE_MAX, name);
		return;
	}
	*eq = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(name, keys[i].name))
			continue;
		if (keys[i].parse(c, eq + 1) < 0)
			warn(c, "ignoring wisp.%s: malformed value", name);
		return;
	}
	warn(c, "ignoring unknown key wisp.%.*s", QUOTE_MAX, name);
}

static void set_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->rows = DEFAULT_ROWS;
	c->cols = DEFAULT_COLS;
	c->io = IO_AUTO;
	c->hostname = "wisp";
	c->timesync_s = CONFIG_TIMESYNC_DEFAULT_S;
	c->timeport = TIME_WIRE_PORT;
}

int config_parse(const char *cmdline, size_t n, struct config *c)
{
	set_defaults(c);
	/* Every word fits in the copy with its NUL, so one buffer serves. */
	c->storage = malloc(n + 1);
	if (!c->storage)
		return -1;
	char *out = c->storage;
	const char *p = cmdline, *end = cmdline + n;
	char *word;
	int argc = 0, after_dashes = 0;
	char *dash_args[CONFIG_MAX_ARGS + 1];

	while ((word = next_word(&p, end, &out))) {
		if (after_dashes) {
			if (argc == CONFIG_MAX_ARGS) {
				warn(c, "ignoring arguments after the first %d", CONFIG_MAX_ARGS);
				break;
			}
			dash_args[argc++] = word;
		} else if (!strcmp(word, "--")) {
			after_dashes = 1;
		} else if (!strncmp(word, "wisp.", 5)) {
			apply_key(c, word);
		}
	}
	/* A command after "--" wins over wisp.cmd only when wisp.cmd is absent. */
	if (!c->argv[0] && argc > 0) {
		memcpy(c->argv, dash_args, sizeof(char *) * (size_t)argc);
		c->argv[argc] = NULL;
	}
	return 0;
}

void config_free(struct config *c)
{
	free(c->storage);
	c->storage = NULL;
}
