/*
 * mime_date.c - RFC 5322 dates as RFC 3339, and telling a message from
 * plain text by its first bytes (aegis/mime.h).
 */
#include "aegis/mime.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *mime_date_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

/* Up to `max` digits at *p into *v; false when there is none. */
static bool mime_date_num(const char **p, int max, int *v)
{
	int n = 0, k = 0;
	while (k < max && isdigit((unsigned char)(*p)[k]))
		n = n * 10 + ((*p)[k++] - '0');
	*p += k;
	*v = n;
	return k > 0;
}

/* The offset of an obsolete or numeric zone in minutes east of UTC; false when unknown. */
static bool mime_date_zone(const char *p, int *minutes)
{
	static const struct {
		const char *name;
		int off;
	} zones[] = {{"UT", 0},        {"UTC", 0},       {"GMT", 0},       {"Z", 0},
	             {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60},
	             {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60}};
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
		int v = 0;
		const char *q = p + 1;
		if (!mime_date_num(&q, 4, &v) || q - p != 5 || v % 100 >= 60)
			return false;
		*minutes = (v / 100 * 60 + v % 100) * (*p == '-' ? -1 : 1);
		return true;
	}
	size_t n = 0;
	while (isalpha((unsigned char)p[n]))
		n++;
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (strlen(zones[i].name) == n && strncasecmp(p, zones[i].name, n) == 0) {
			*minutes = zones[i].off;
			return true;
		}
	*minutes = 0; /* military and unknown zones: RFC 5322 4.3 says take them as -0000 */
	return n > 0;
}

bool ag_mime_date(const char *s, char *buf, size_t len)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                     "jul", "aug", "sep", "oct", "nov", "dec"};
	const char *p = mime_date_ws(s ? s : "");
	struct tm tm = {0};
	int day, year, hh, mm, ss = 0, zone = 0, mon = -1;
	if (isalpha((unsigned char)*p)) { /* day of week */
		while (isalpha((unsigned char)*p))
			p++;
		p = mime_date_ws(p);
	}
	if (!mime_date_num(&p, 2, &day))
		return false;
	p = mime_date_ws(p);
	for (int i = 0; i < 12; i++)
		if (strncasecmp(p, months[i], 3) == 0)
			mon = i;
	if (mon < 0)
		return false;
	while (isalpha((unsigned char)*p))
		p++;
	p = mime_date_ws(p);
	const char *y0 = p;
	if (!mime_date_num(&p, 4, &year))
		return false;
	if (p - y0 <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (p - y0 == 3)
		year += 1900;
	p = mime_date_ws(p);
	if (!mime_date_num(&p, 2, &hh) || *p++ != ':' || !mime_date_num(&p, 2, &mm))
		return false;
	if (*p == ':' && (p++, !mime_date_num(&p, 2, &ss)))
		return false;
	p = mime_date_ws(p);
	if (*p && !mime_date_zone(p, &zone))
		return false;
	if (day < 1 || day > 31 || year < 1900 || year > 9999 || hh > 23 || mm > 59 || ss > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm) - (time_t)zone * 60;
	struct tm u;
	if (!gmtime_r(&t, &u))
		return false;
	return strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &u) > 0;
}

bool ag_mime_sniff(const void *buf, size_t len)
{
	static const char *const also[] = {"to",         "cc",           "subject",  "date",
	                                   "message-id", "mime-version", "received", "reply-to"};
	const char *p = buf, *e = p + len;
	int fields = 0;
	bool from = false, other = false;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p)
			break; /* the empty line after the header */
		if (*p == ' ' || *p == '\t') {
			if (fields == 0)
				return false;
		} else {
			size_t n = 0;
			while (p + n < le && p[n] != ':' && (unsigned char)p[n] > 32 && (unsigned char)p[n] < 127)
				n++;
			if (n == 0 || p + n >= le || p[n] != ':')
				return false;
			fields++;
			from |= n == 4 && strncasecmp(p, "from", 4) == 0;
			for (size_t i = 0; i < sizeof also / sizeof also[0]; i++)
				other |= strlen(also[i]) == n && strncasecmp(p, also[i], n) == 0;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return fields >= 2 && from && other;
}
