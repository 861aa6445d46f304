/*
 * ai_provider.c - the table of providers compiled into the ai-worker.
 */
#include "ai_provider.h"

#include "builtin.h"
#include "openai.h"

#include <string.h>

static const struct {
	const char *name;
	ag_status (*open)(ai_provider *out, const ai_opts *opts, ag_err *err);
} ai_providers[] = {
        {"builtin", builtin_open},
        {"openai", openai_open},
};

const char *ai_provider_names(void)
{
	return "builtin,openai";
}

static int ai_provider_index(const char *name)
{
	for (size_t i = 0; name && i < sizeof ai_providers / sizeof ai_providers[0]; i++)
		if (strcmp(name, ai_providers[i].name) == 0)
			return (int)i;
	return -1;
}

ag_status ai_provider_find(const char *name, ag_err *err)
{
	if (ai_provider_index(name) >= 0)
		return AG_OK;
	return ag_err_set(err, AG_E_INVAL, "unknown AI provider \"%s\" (supported: %s)", name ? name : "",
	                  ai_provider_names());
}

ag_status ai_provider_open(ai_provider *out, const char *name, const ai_opts *opts, ag_err *err)
{
	memset(out, 0, sizeof *out);
	int i = ai_provider_index(name);
	if (i < 0)
		return ai_provider_find(name, err);
	return ai_providers[i].open(out, opts, err);
}

void ai_provider_close(ai_provider *p)
{
	if (p->vt && p->vt->free)
		p->vt->free(p->self);
	memset(p, 0, sizeof *p);
}
