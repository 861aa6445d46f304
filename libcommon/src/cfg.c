/*
 * cfg.c - load a service's configuration table from the environment.
 * All items are checked before returning, so an operator sees every mistake
 * at once instead of fixing them one restart at a time.
 */
#include "aegis/cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ag_cfg_parse_ll(const char *s, long long min, long long max, long long *out)
{
	/* strtoll would skip leading white space and take a '+': only plain decimal text is a number here. */
	if (!s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static int cfg_item(const ag_cfg_item *it, char *base, FILE *report)
{
	const char *raw = getenv(it->name);
	const char *v = (raw && *raw) ? raw : it->def;
	if (!v) {
		if (it->required) {
			fprintf(report, "config: %s is required (%s)\n", it->name, it->help);
			return 1;
		}
		return 0;
	}
	switch (it->type) {
	case AG_CFG_STR: {
		char **dst = (char **)(void *)(base + it->offset);
		free(*dst);
		*dst = strdup(v);
		if (!*dst) {
			fprintf(report, "config: %s: out of memory\n", it->name);
			return 1;
		}
		return 0;
	}
	case AG_CFG_INT: {
		long long *dst = (long long *)(void *)(base + it->offset);
		if (!ag_cfg_parse_ll(v, it->min, it->max, dst)) {
			if (it->secret)
				fprintf(report, "config: %s must be a whole number from %lld to %lld\n", it->name,
				        it->min, it->max);
			else
				fprintf(report, "config: %s=\"%s\" must be a whole number from %lld to %lld\n",
				        it->name, v, it->min, it->max);
			return 1;
		}
		return 0;
	}
	case AG_CFG_BOOL: {
		bool *dst = (bool *)(void *)(base + it->offset);
		if (!cfg_parse_bool(v, dst)) {
			fprintf(report, "config: %s must be true or false\n", it->name);
			return 1;
		}
		return 0;
	}
	}
	return 1;
}

ag_status ag_cfg_load(const ag_cfg_item *items, size_t n, void *cfg, FILE *report)
{
	int problems = 0;
	for (size_t i = 0; i < n; i++)
		problems += cfg_item(&items[i], cfg, report);
	if (problems)
		fprintf(report, "config: %d problem%s found\n", problems, problems == 1 ? "" : "s");
	return problems ? AG_E_INVAL : AG_OK;
}

void ag_cfg_free(const ag_cfg_item *items, size_t n, void *cfg)
{
	char *base = cfg;
	for (size_t i = 0; i < n; i++) {
		if (items[i].type != AG_CFG_STR)
			continue;
		char **p = (char **)(void *)(base + items[i].offset);
		free(*p);
		*p = NULL;
	}
}

void ag_cfg_print_help(const ag_cfg_item *items, size_t n, FILE *out)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-24s %-32s %s\n", items[i].name,
		        items[i].secret ? "(secret)"
		                        : (items[i].def ? items[i].def : (items[i].required ? "(required)" : "")),
		        items[i].help);
}

void ag_cfg_print_markdown(const ag_cfg_item *items, size_t n, FILE *out)
{
	for (size_t i = 0; i < n; i++) {
		const ag_cfg_item *it = &items[i];
		const char *def = it->def ? it->def : (it->required ? "required" : "unset");
		fprintf(out, "| `%s` | %s%s%s |", it->name, it->def ? "`" : "", def, it->def ? "`" : "");
		if (it->type == AG_CFG_INT)
			fprintf(out, " %s (%lld to %lld)%s |\n", it->help, it->min, it->max,
			        it->secret ? "; secret" : "");
		else
			fprintf(out, " %s%s |\n", it->help, it->secret ? " (secret)" : "");
	}
}
