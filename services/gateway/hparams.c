/*
 * hparams.c - tokenizer for header values with parameters (Content-Type,
 * Content-Disposition). Strict about structure (names are tokens, quotes
 * must close, no control characters), lenient only where real clients
 * differ from the RFC (unquoted values with spaces, unescaped backslashes).
 */
#include "hparams.h"

#include <string.h>

static bool hparams_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool hparams_is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static const char *hparams_skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static char hparams_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

ag_status hparams_token(const char **cur, char *out, size_t outsz)
{
	const char *p = hparams_skip_ows(*cur);
	size_t n = 0;
	while (hparams_is_tchar((unsigned char)*p) || *p == '/') {
		if (n + 1 >= outsz)
			return AG_E_TOOBIG;
		out[n++] = hparams_lower(*p++);
	}
	if (n == 0)
		return AG_E_PROTO;
	out[n] = '\0';
	*cur = p;
	return AG_OK;
}

/* Quoted-string after the opening quote; *pp ends after the closing quote. */
static ag_status hparams_quoted(const char **pp, char *value, size_t valuesz, size_t *len)
{
	const char *p = *pp;
	size_t n = 0;
	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '\0')
			return AG_E_PROTO; /* no closing quote */
		if (c == '"') {
			p++;
			break;
		}
		if (hparams_is_ctl(c))
			return AG_E_PROTO;
		if (c == '\\' && (p[1] == '"' || p[1] == '\\')) {
			p++;
			c = (unsigned char)*p;
		}
		if (n + 1 >= valuesz)
			return AG_E_TOOBIG;
		value[n++] = (char)c;
		p++;
	}
	value[n] = '\0';
	*len = n;
	*pp = p;
	return AG_OK;
}

static ag_status hparams_unquoted(const char **pp, char *value, size_t valuesz, size_t *len)
{
	const char *p = *pp;
	size_t n = 0;
	while (*p != '\0' && *p != ';') {
		if (hparams_is_ctl((unsigned char)*p) || *p == '"')
			return AG_E_PROTO;
		if (n + 1 >= valuesz)
			return AG_E_TOOBIG;
		value[n++] = *p++;
	}
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0)
		return AG_E_PROTO;
	value[n] = '\0';
	*len = n;
	*pp = p;
	return AG_OK;
}

ag_status hparams_next(const char **cur, char name[HPARAMS_NAME_MAX + 1], char *value, size_t valuesz, size_t *valuelen)
{
	const char *p = hparams_skip_ows(*cur);
	size_t n = 0;
	size_t len = 0;
	ag_status st;

	if (*p == '\0') {
		*cur = p;
		return AG_E_NOTFOUND;
	}
	if (*p != ';')
		return AG_E_PROTO;
	/* empty parameters (";;" or a trailing ";") are tolerated */
	while (*p == ';')
		p = hparams_skip_ows(p + 1);
	if (*p == '\0') {
		*cur = p;
		return AG_E_NOTFOUND;
	}
	while (hparams_is_tchar((unsigned char)*p)) {
		if (n >= HPARAMS_NAME_MAX)
			return AG_E_TOOBIG;
		name[n++] = hparams_lower(*p++);
	}
	if (n == 0)
		return AG_E_PROTO;
	name[n] = '\0';
	p = hparams_skip_ows(p);
	if (*p != '=')
		return AG_E_PROTO;
	p = hparams_skip_ows(p + 1);
	if (*p == '"') {
		p++;
		st = hparams_quoted(&p, value, valuesz, &len);
	} else {
		st = hparams_unquoted(&p, value, valuesz, &len);
	}
	if (st != AG_OK)
		return st;
	p = hparams_skip_ows(p);
	if (*p != '\0' && *p != ';')
		return AG_E_PROTO; /* junk after a quoted value */
	if (valuelen)
		*valuelen = len;
	*cur = p;
	return AG_OK;
}

bool hparams_media_type(const char *content_type, char *out, size_t outsz)
{
	const char *p = content_type;
	if (!p || hparams_token(&p, out, outsz) != AG_OK)
		return false;
	const char *slash = strchr(out, '/');
	if (!slash || slash == out || slash[1] == '\0' || strchr(slash + 1, '/'))
		return false;
	p = hparams_skip_ows(p);
	return *p == '\0' || *p == ';';
}
