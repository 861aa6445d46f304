/* trace.c - W3C traceparent: make, parse, format; the thread's current context. */
#include "aegis/trace.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local ag_trace trace_current;

/*
 * Ids need to be unique, not secret: a per-thread xoshiro256** seeded once from getrandom (and again in a
 * forked child, through pthread_atfork) costs no system call per request, where two getrandom calls per
 * trace did.
 */
static _Thread_local uint64_t trace_rng[4];
static _Thread_local bool trace_rng_seeded;
static pthread_once_t trace_rng_once = PTHREAD_ONCE_INIT;

/* In a forked child (the sandbox's parsers) only the forking thread lives on: it seeds again. */
static void trace_rng_forked(void)
{
	trace_rng_seeded = false;
}

static void trace_rng_register(void)
{
	pthread_atfork(NULL, NULL, trace_rng_forked);
}

static uint64_t trace_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t trace_rand64(void)
{
	if (!trace_rng_seeded) {
		pthread_once(&trace_rng_once, trace_rng_register);
		if (getrandom(trace_rng, sizeof trace_rng, 0) != (ssize_t)sizeof trace_rng) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^
			             (uint64_t)(uintptr_t)&trace_rng;
			for (int i = 0; i < 4; i++) { /* splitmix64 */
				x += 0x9e3779b97f4a7c15ULL;
				uint64_t z = x;
				z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
				z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
				trace_rng[i] = z ^ (z >> 31);
			}
		}
		if (!(trace_rng[0] | trace_rng[1] | trace_rng[2] | trace_rng[3]))
			trace_rng[0] = 1; /* the one state xoshiro cannot leave */
		trace_rng_seeded = true;
	}
	uint64_t *st = trace_rng;
	uint64_t out = trace_rotl(st[1] * 5, 7) * 9, t = st[1] << 17;
	st[2] ^= st[0];
	st[3] ^= st[1];
	st[1] ^= st[2];
	st[0] ^= st[3];
	st[2] ^= t;
	st[3] = trace_rotl(st[3], 45);
	return out;
}

static void trace_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	uint64_t a = trace_rand64(), b = nbytes > 8 ? trace_rand64() : 0;
	if (!a && !b)
		a = 1; /* an all-zero id is invalid */
	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

static bool trace_is_hex(const char *s, size_t n)
{
	bool nonzero = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		if (c != '0')
			nonzero = true;
	}
	return nonzero;
}

void ag_trace_new(ag_trace *out)
{
	trace_hex(out->trace_id, 16);
	trace_hex(out->span_id, 8);
	out->flags = 1;
}

bool ag_trace_parse(const char *tp, ag_trace *out)
{
	if (!tp || strlen(tp) < AG_TRACEPARENT_LEN)
		return false;
	/* version 00 is exactly 55 chars; a future version may append fields after a '-'. */
	if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return false;
	if (tp[0] == 'f' && tp[1] == 'f')
		return false;
	if (strncmp(tp, "00", 2) == 0 && tp[AG_TRACEPARENT_LEN] != '\0')
		return false;
	if (!trace_is_hex(tp + 3, 32) || !trace_is_hex(tp + 36, 16))
		return false;
	unsigned flags;
	if (sscanf(tp + 53, "%2x", &flags) != 1)
		return false;
	memcpy(out->trace_id, tp + 3, 32);
	out->trace_id[32] = '\0';
	memcpy(out->span_id, tp + 36, 16);
	out->span_id[16] = '\0';
	out->flags = (uint8_t)flags;
	return true;
}

void ag_trace_child(const ag_trace *parent, ag_trace *out)
{
	ag_trace t = *parent;
	trace_hex(t.span_id, 8);
	*out = t;
}

void ag_trace_continue(const char *header, ag_trace *out)
{
	ag_trace parent;
	if (header && ag_trace_parse(header, &parent))
		ag_trace_child(&parent, out);
	else
		ag_trace_new(out);
}

void ag_trace_format(const ag_trace *t, char *buf, size_t bufsz)
{
	/* "00-<trace id>-<span id>-<flags>" without printf: every HTTP answer carries one */
	static const char hex[] = "0123456789abcdef";
	char tp[AG_TRACEPARENT_LEN + 1];
	size_t n = 0, tl = strnlen(t->trace_id, sizeof t->trace_id - 1),
	       sl = strnlen(t->span_id, sizeof t->span_id - 1);
	if (bufsz == 0)
		return;
	memcpy(tp, "00-", 3);
	n = 3;
	memcpy(tp + n, t->trace_id, tl);
	n += tl;
	tp[n++] = '-';
	memcpy(tp + n, t->span_id, sl);
	n += sl;
	tp[n++] = '-';
	tp[n++] = hex[t->flags >> 4];
	tp[n++] = hex[t->flags & 15];
	if (n > bufsz - 1)
		n = bufsz - 1;
	memcpy(buf, tp, n);
	buf[n] = '\0';
}

void ag_trace_set_current(const ag_trace *t)
{
	if (t)
		trace_current = *t;
	else
		memset(&trace_current, 0, sizeof trace_current);
}

const char *ag_trace_current_id(void)
{
	return trace_current.trace_id;
}
