/*
 * step_main.c - the whole life of a pipeline worker process, so that each
 * worker's main.c is its configuration table, its handler and one call.
 */
#include "aegis/log.h"
#include "aegis/step.h"

int ag_step_main(const ag_step_app *app, int argc, char **argv)
{
	ag_service_spec spec = app->spec;
	ag_service *svc = NULL;
	ag_step_worker *worker = NULL;
	ag_err err;
	int code = 1;
	bool inited = false;

	ag_err_clear(&err);
	spec.needs |= AG_NEEDS_DB | AG_NEEDS_BUS | AG_NEEDS_STORAGE;
	if (ag_service_start(&svc, &spec, argc, argv, &code) != AG_OK)
		return code;
	code = 1;
	inited = true;
	if (app->init && app->init(app->ud, &err) != AG_OK) {
		ag_log_error("%s could not start: %s", spec.name, err.msg);
		goto out;
	}
	const ag_step_def def = {
	        .name = app->name,
	        .step = app->step,
	        .handler = app->handler,
	        .ud = app->ud,
	        .threads = (int)app->step_cfg->threads,
	        .ack_wait_ms = app->step_cfg->ack_wait_ms,
	        .max_deliver = (int)app->step_cfg->max_deliver,
	        .crash_limit = (int)app->step_cfg->crash_limit,
	};
	if (ag_step_worker_start(&worker, svc, &def, &err) != AG_OK) {
		ag_log_error("cannot start the %s step worker: %s", app->name, err.msg);
		goto out;
	}
	code = ag_service_run(svc);
out:
	/* A handler still running uses the pool and the connection: freeing them under it crashes. */
	if (!ag_step_worker_join(worker))
		ag_service_abandon(svc, code);
	ag_step_worker_free(worker);
	ag_service_free(svc);
	if (inited && app->fini)
		app->fini(app->ud);
	return code;
}
