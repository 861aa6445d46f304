/*
 * extract-metadata - records what a file is: size, SHA-256, sniffed MIME
 * type and charset, and for text its line, word and character counts, as
 * one JSON document in document_metadata (upserted, so a redelivered task
 * just writes the same row again).
 *
 * PDFs, office packages, images and e-mail also get their format's
 * properties (docmeta.h: document information, core properties, dimensions
 * and EXIF, message headers and attachments),
 * read in a sandboxed child process (aegis/sandbox.h). A child that
 * crashes, runs out of memory or time is retried PARSER_RETRIES times,
 * then the step fails for good ("parser_failed"); a file whose properties
 * cannot be parsed keeps its common fields plus "format_error".
 *
 * The SHA-256 is computed again from the stored bytes; when it differs from
 * the one the gateway computed while streaming the upload, the stored file
 * is not the uploaded one and the step fails for good ("checksum_mismatch").
 */
#include "docmeta.h"
#include "scan.h"

#include "aegis/cfg.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/mime.h"
#include "aegis/sandbox.h"
#include "aegis/service.h"
#include "aegis/sniff.h"
#include "aegis/step.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct metadata_cfg {
	ag_common_cfg common;
	ag_step_cfg step;
	ag_sandbox_cfg parser;
	ag_mime_limits mail;
} metadata_cfg;

static const ag_cfg_item metadata_items[] = {
        AG_CFG_COMMON_ITEMS(metadata_cfg, "9002"),
        AG_STEP_CFG_ITEMS(metadata_cfg, "files examined"),
        AG_SANDBOX_CFG_ITEMS(metadata_cfg),
        AG_MIME_CFG_ITEMS(metadata_cfg),
};

typedef struct metadata_app {
	const metadata_cfg *cfg;
	ag_sniff *sniff;
} metadata_app;

static ag_status metadata_broken(ag_step_ctx *ctx, ag_status st, const ag_err *err, const char *what)
{
	return ag_step_fail(ctx, st, ag_status_name(st), "%s: %s", what, err->msg);
}

static void metadata_progress(void *ctx)
{
	ag_step_heartbeat(ctx);
}

/* Format properties from a sandboxed child merged into *json (replaced). */
static ag_status metadata_format(ag_step_ctx *ctx, const metadata_app *app, int fd, const char *mime, char **json)
{
	docmeta_job job = {.fd = -1, .mail = app->cfg->mail};
	snprintf(job.mime, sizeof job.mime, "%s", mime);
	const ag_sandbox_call call = {.fn = docmeta_run, .arg = &job, .arg_size = sizeof job, .fd = fd};
	ag_sandbox_limits lim = ag_sandbox_limits_of(&app->cfg->parser, DOCMETA_MAX_OUTPUT);
	ag_sandbox_result res;
	ag_err err = {0};
	char *merged = NULL;
	ag_status st = ag_sandbox_run(&lim, &call, metadata_progress, ctx, &res, &err);
	if (st != AG_OK)
		return metadata_broken(ctx, st, &err, "starting the format reader");
	if (res.outcome == AG_SANDBOX_OK) {
		merged = docmeta_merge(*json, res.out);
	} else if (res.outcome == AG_SANDBOX_FAILED && res.exit_code == AG_SANDBOX_EXIT_FAIL) {
		const char *tab = strchr(res.out, '\t');
		json_t *o = json_object();
		char *extra = NULL;
		if (o && json_object_set_new(o, "format_error", json_string(tab ? tab + 1 : "unreadable")) == 0)
			extra = json_dumps(o, JSON_COMPACT);
		merged = extra ? docmeta_merge(*json, extra) : NULL;
		free(extra);
		json_decref(o);
		ag_log_info("the %s properties cannot be read: %s", mime, tab ? tab + 1 : res.out);
	} else {
		st = ag_step_fail(ctx, ag_sandbox_verdict(&res, ag_step_delivered(ctx), app->cfg->parser.retries),
		                  "parser_failed", "reading the %s properties ended with %s (signal %d)", mime,
		                  ag_sandbox_outcome_name(res.outcome), res.signal);
		goto out;
	}
	if (!merged) {
		st = ag_step_fail(ctx, AG_E_NOMEM, ag_status_name(AG_E_NOMEM), "out of memory merging the metadata");
		goto out;
	}
	free(*json);
	*json = merged;
out:
	ag_sandbox_result_free(&res);
	return st;
}

static ag_status metadata_step(ag_step_ctx *ctx, void *ud)
{
	const metadata_app *app = ud;
	const Aegis__V1__DocumentRef *doc = ag_step_doc(ctx);
	ag_err err = {0};
	const char *path = NULL;
	PGconn *conn = NULL;
	char *json = NULL;
	scan_result scan;
	int fd = -1;

	ag_status st = ag_step_local_path(ctx, &path, &err);
	if (st != AG_OK)
		return metadata_broken(ctx, st, &err, "cannot read the uploaded file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		st = ag_step_fail(ctx, AG_E_IO, "io", "cannot open the uploaded file: %s", strerror(errno));
		goto out;
	}
	st = scan_fd(fd, app->sniff, metadata_progress, ctx, &scan, &err);
	if (st != AG_OK) {
		st = metadata_broken(ctx, st, &err, "reading the uploaded file");
		goto out;
	}
	if (strcasecmp(scan.sha256, doc->sha256) != 0) {
		st = ag_step_fail(
		        ctx, AG_E_CONFLICT, "checksum_mismatch",
		        "the stored file (%llu bytes, SHA-256 %s) is not the uploaded one (%llu bytes, SHA-256 %.64s)",
		        (unsigned long long)scan.size, scan.sha256, (unsigned long long)doc->size, doc->sha256);
		goto out;
	}

	json = scan_json(&scan);
	if (!json) {
		st = ag_step_fail(ctx, AG_E_NOMEM, ag_status_name(AG_E_NOMEM), "out of memory building the metadata");
		goto out;
	}
	if (docmeta_applies(scan.sniffed.mime)) {
		st = metadata_format(ctx, app, fd, scan.sniffed.mime, &json);
		if (st != AG_OK)
			goto out;
	}
	st = ag_step_tx(ctx, &conn, &err);
	if (st != AG_OK) {
		st = metadata_broken(ctx, st, &err, "database");
		goto out;
	}
	const char *params[] = {doc->document_id, json};
	st = ag_db_exec(conn,
	                "INSERT INTO document_metadata (document_id, metadata) VALUES ($1, $2::jsonb) "
	                "ON CONFLICT (document_id) DO UPDATE SET metadata = EXCLUDED.metadata, updated_at = now()",
	                2, params, NULL, &err);
	if (st != AG_OK) {
		st = metadata_broken(ctx, st, &err, "storing the metadata");
		goto out;
	}
	ag_log_debug("metadata of a %s file of %llu bytes recorded", scan.sniffed.mime, (unsigned long long)scan.size);
out:
	free(json);
	if (fd >= 0)
		close(fd);
	return st;
}

static ag_status metadata_init(void *ud, ag_err *err)
{
	metadata_app *app = ud;
	if (sodium_init() < 0)
		return ag_err_set(err, AG_E_INTERNAL, "libsodium cannot be initialised");
	return ag_sniff_new(&app->sniff, err);
}

static void metadata_fini(void *ud)
{
	metadata_app *app = ud;
	ag_sniff_free(app->sniff);
}

int main(int argc, char **argv)
{
	static metadata_cfg cfg;
	static metadata_app app = {.cfg = &cfg};
	const ag_step_app worker = {
	        .spec = {.name = "extract-metadata",
	                 .needs = AG_NEEDS_SANDBOX,
	                 .items = metadata_items,
	                 .nitems = sizeof metadata_items / sizeof metadata_items[0],
	                 .cfg = &cfg,
	                 .common = &cfg.common},
	        .step_cfg = &cfg.step,
	        .name = "metadata",
	        .step = AEGIS__V1__STEP__STEP_METADATA,
	        .handler = metadata_step,
	        .ud = &app,
	        .init = metadata_init,
	        .fini = metadata_fini,
	};
	return ag_step_main(&worker, argc, argv);
}
