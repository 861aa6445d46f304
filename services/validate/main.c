/*
 * validate - the first step of every job: decide from the file's bytes
 * whether Aegis accepts it at all.
 *
 *   empty file                              -> rejected "empty_file"
 *   larger than VALIDATE_MAX_BYTES          -> rejected "too_large"
 *   sniffed type not in VALIDATE_ALLOWED_TYPES -> rejected "type_not_allowed"
 *   claimed type or file-name extension disagreeing with the sniffed type
 *     (mismatch.h)                          -> rejected "type_mismatch" when
 *     VALIDATE_MISMATCH=reject; with allow (the default) recorded in
 *     documents.type_mismatch and the log, and the file goes on
 *   zip packages, XML, PDF, images failing a structure check (inspect.h,
 *     run in a sandboxed child)         -> rejected with the check's code
 *   CLAMD_ADDR set and clamd reports a signature (clamd.h)
 *                                           -> rejected "malware_detected"
 *     longer than CLAMD_MAX_BYTES, or than clamd's StreamMaxLength
 *                                           -> rejected "too_large_to_scan"
 *     clamd unreachable or silent           -> transient failure, retried
 *   otherwise documents.sniffed_mime = the sniffed type, succeeded.
 *
 * A check whose child crashes, runs out of memory or time is retried
 * PARSER_RETRIES times, then the step fails for good ("parser_failed").
 *
 * The file name and the type the client claimed never decide the type:
 * they are only compared with the sniffed one.
 */
#include "allow.h"
#include "clamd.h"
#include "inspect.h"
#include "mismatch.h"

#include "aegis/cfg.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/sandbox.h"
#include "aegis/service.h"
#include "aegis/sniff.h"
#include "aegis/step.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALIDATE_MAX_BYTES_CEILING (1LL << 40) /* 1 TiB: the highest VALIDATE_MAX_BYTES accepted */

typedef struct validate_cfg {
	ag_common_cfg common;
	ag_step_cfg step;
	long long max_bytes;
	char *allowed_types;
	inspect_limits inspect;
	char *mismatch;
	char *clamd_addr;
	long long clamd_timeout_ms;
	long long clamd_chunk_bytes;
	long long clamd_max_bytes;
	ag_sandbox_cfg parser;
} validate_cfg;

static const ag_cfg_item validate_items[] = {
        AG_CFG_COMMON_ITEMS(validate_cfg, "9001"),
        AG_STEP_CFG_ITEMS(validate_cfg, "files validated"),
        {"VALIDATE_MAX_BYTES", AG_CFG_INT, offsetof(validate_cfg, max_bytes), "104857600", false, 1,
         VALIDATE_MAX_BYTES_CEILING, false, "largest file accepted, in bytes"},
        {"VALIDATE_ALLOWED_TYPES", AG_CFG_STR, offsetof(validate_cfg, allowed_types),
         "text/plain,text/markdown,text/x-markdown,text/csv,text/tab-separated-values,text/html,"
         "application/xhtml+xml,application/json,application/xml,text/xml,message/rfc822,application/pdf,"
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
         "application/vnd.openxmlformats-officedocument.presentationml.presentation,"
         "application/vnd.oasis.opendocument.text,application/vnd.oasis.opendocument.spreadsheet,"
         "application/vnd.oasis.opendocument.presentation,application/epub+zip,image/png,image/jpeg,image/gif",
         false, 0, 0, false, "sniffed MIME types accepted, comma-separated; type/* accepts a whole family"},
        {"VALIDATE_ZIP_MAX_ENTRIES", AG_CFG_INT, offsetof(validate_cfg, inspect.zip_max_entries), "10000", false, 1,
         10000000, false, "most entries in a zip package (zip, OOXML, ODF, EPUB)"},
        {"VALIDATE_ZIP_MAX_UNCOMPRESSED_BYTES", AG_CFG_INT, offsetof(validate_cfg, inspect.zip_max_total_bytes),
         "1073741824", false, 1024, 1LL << 42, false, "largest total uncompressed size of a zip package's entries"},
        {"VALIDATE_ZIP_MAX_RATIO", AG_CFG_INT, offsetof(validate_cfg, inspect.zip_max_ratio), "100", false, 1, 100000,
         false, "largest ratio of a zip package's uncompressed size to its file size"},
        {"VALIDATE_XML_MAX_DEPTH", AG_CFG_INT, offsetof(validate_cfg, inspect.xml_max_depth), "200", false, 8, 10000,
         false, "deepest element nesting accepted in XML (and XML parts of packages)"},
        {"VALIDATE_MAX_PIXELS", AG_CFG_INT, offsetof(validate_cfg, inspect.max_pixels), "100000000", false, 1,
         1LL << 40, false, "most pixels (width x height) in an image"},
        {"VALIDATE_MISMATCH", AG_CFG_STR, offsetof(validate_cfg, mismatch), "allow", false, 0, 0, false,
         "claimed type or extension disagreeing with the sniffed type: allow (recorded) or reject"},
        {"CLAMD_ADDR", AG_CFG_STR, offsetof(validate_cfg, clamd_addr), "", false, 0, 0, false,
         "clamd to scan every file with (INSTREAM): host:port or unix:/path; empty = no malware scan"},
        {"CLAMD_TIMEOUT_MS", AG_CFG_INT, offsetof(validate_cfg, clamd_timeout_ms), "30000", false, 100, 3600000, false,
         "longest wait for clamd to accept a connection, a chunk or to answer, in milliseconds"},
        {"CLAMD_CHUNK_BYTES", AG_CFG_INT, offsetof(validate_cfg, clamd_chunk_bytes), "65536", false, 1024,
         CLAMD_MAX_CHUNK_BYTES, false, "bytes sent to clamd in one INSTREAM chunk"},
        {"CLAMD_MAX_BYTES", AG_CFG_INT, offsetof(validate_cfg, clamd_max_bytes), "26214400", false, 1, 1LL << 40, false,
         "largest file sent to clamd (set it to clamd's StreamMaxLength); a larger one is rejected"},
        AG_SANDBOX_CFG_ITEMS(validate_cfg),
};

/* VALIDATE_ALLOWED_TYPES must parse (for start-up and --check-config). */
static int validate_check(const void *cfg, FILE *report)
{
	const validate_cfg *c = cfg;
	allow_list l;
	mismatch_policy mp;
	ag_err err = {0};
	int bad = 0;
	if (allow_parse(&l, c->allowed_types, &err) != AG_OK) {
		fprintf(report, "config: VALIDATE_ALLOWED_TYPES: %s\n", err.msg);
		bad = 1;
	}
	if (!mismatch_policy_parse(c->mismatch, &mp)) {
		fprintf(report, "config: VALIDATE_MISMATCH must be allow or reject, not '%s'\n", c->mismatch);
		bad = 1;
	}
	if (!clamd_addr_valid(c->clamd_addr)) {
		fprintf(report, "config: CLAMD_ADDR must be host:port or unix:/absolute/path, not '%s'\n",
		        c->clamd_addr);
		bad = 1;
	}
	return bad;
}

typedef struct validate_app {
	const validate_cfg *cfg;
	allow_list allow;
	mismatch_policy mismatch;
	ag_sniff *sniff;
} validate_app;

static void validate_heartbeat(void *ctx)
{
	ag_step_heartbeat(ctx);
}

/* A failure of the machinery (storage, database) rather than of the file: keep its status, so transient ones
 * are retried. */
static ag_status validate_broken(ag_step_ctx *ctx, ag_status st, const ag_err *err, const char *what)
{
	return ag_step_fail(ctx, st, ag_status_name(st), "%s: %s", what, err->msg);
}

#define VALIDATE_VERDICT_BYTES 4096 /* what an inspection child may write back */

/* Run the structure checks in a sandbox: "ok", or a reason code and sentence -> rejected. */
static ag_status validate_inspect(ag_step_ctx *ctx, const validate_app *app, int fd, const char *mime, long long size)
{
	inspect_job job = {.fd = -1, .size = size, .lim = app->cfg->inspect};
	snprintf(job.mime, sizeof job.mime, "%s", mime);
	ag_sandbox_limits lim = ag_sandbox_limits_of(&app->cfg->parser, VALIDATE_VERDICT_BYTES);
	const ag_sandbox_call call = {.fn = inspect_run, .arg = &job, .arg_size = sizeof job, .fd = fd};
	ag_sandbox_result res;
	ag_err err = {0};
	ag_status st = ag_sandbox_run(&lim, &call, validate_heartbeat, ctx, &res, &err);
	if (st != AG_OK)
		return validate_broken(ctx, st, &err, "starting the structure check");
	char *tab = strchr(res.out, '\t');
	if (res.outcome == AG_SANDBOX_OK) {
		st = AG_OK;
	} else if (res.outcome == AG_SANDBOX_FAILED && tab) {
		*tab = '\0'; /* res.out is now the reason code */
		st = ag_step_fail(ctx, AG_E_REJECTED, res.out, "%s", tab + 1);
	} else {
		st = ag_step_fail(ctx, ag_sandbox_verdict(&res, ag_step_delivered(ctx), app->cfg->parser.retries),
		                  "parser_failed", "checking the %s file ended with %s (signal %d)", mime,
		                  ag_sandbox_outcome_name(res.outcome), res.signal);
	}
	ag_sandbox_result_free(&res);
	return st;
}

/* The malware scan, when CLAMD_ADDR is set. */
static ag_status validate_scan(ag_step_ctx *ctx, const validate_app *app, int fd, long long size)
{
	const validate_cfg *c = app->cfg;
	clamd_cfg cc = {.addr = c->clamd_addr,
	                .timeout_ms = c->clamd_timeout_ms,
	                .chunk_bytes = c->clamd_chunk_bytes,
	                .max_bytes = c->clamd_max_bytes};
	clamd_verdict v;
	ag_err err = {0};
	ag_status st = clamd_scan(&cc, fd, size, validate_heartbeat, ctx, &v, &err);
	if (st == AG_E_UNAVAILABLE || st == AG_E_TIMEOUT)
		return ag_step_fail(ctx, st, "clamd_unavailable", "the malware scan could not run: %s", err.msg);
	if (st != AG_OK)
		return ag_step_fail(ctx, st, "clamd_error", "the malware scan failed: %s", err.msg);
	switch (v.outcome) {
	case CLAMD_INFECTED:
		ag_log_warn("malware %s found in document %s", v.signature, ag_step_doc(ctx)->document_id);
		return ag_step_fail(ctx, AG_E_REJECTED, "malware_detected", "the malware scanner found %s",
		                    v.signature);
	case CLAMD_TOO_LARGE:
		return ag_step_fail(
		        ctx, AG_E_REJECTED, "too_large_to_scan",
		        "the file (%lld bytes) is larger than the malware scanner accepts (CLAMD_MAX_BYTES %lld "
		        "or clamd's StreamMaxLength)",
		        size, c->clamd_max_bytes);
	case CLAMD_CLEAN:
		break;
	}
	return AG_OK;
}

static ag_status validate_step(ag_step_ctx *ctx, void *ud)
{
	const validate_app *app = ud;
	const Aegis__V1__DocumentRef *doc = ag_step_doc(ctx);
	ag_err err = {0};
	const char *path = NULL;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	ag_sniff_result sniffed;
	struct stat sb;
	int fd = -1;

	ag_status st = ag_step_local_path(ctx, &path, &err);
	if (st != AG_OK)
		return validate_broken(ctx, st, &err, "cannot read the uploaded file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		st = ag_step_fail(ctx, AG_E_IO, "io", "cannot open the uploaded file: %s", strerror(errno));
		goto out;
	}

	if (sb.st_size == 0) {
		st = ag_step_fail(ctx, AG_E_REJECTED, "empty_file", "the file is empty");
		goto out;
	}
	if ((long long)sb.st_size > app->cfg->max_bytes) {
		st = ag_step_fail(ctx, AG_E_REJECTED, "too_large", "the file has %lld bytes; at most %lld are accepted",
		                  (long long)sb.st_size, app->cfg->max_bytes);
		goto out;
	}

	st = ag_sniff_fd(app->sniff, fd, &sniffed, &err);
	if (st != AG_OK) {
		st = validate_broken(ctx, st, &err, "cannot determine the file type");
		goto out;
	}
	if (!allow_match(&app->allow, sniffed.mime)) {
		st = ag_step_fail(ctx, AG_E_REJECTED, "type_not_allowed", "files of type %s are not accepted",
		                  sniffed.mime);
		goto out;
	}

	char mismatch[320];
	bool mismatched = mismatch_check(doc->filename, doc->claimed_mime, sniffed.mime, mismatch, sizeof mismatch);
	if (mismatched && app->mismatch == MISMATCH_REJECT) {
		st = ag_step_fail(ctx, AG_E_REJECTED, "type_mismatch", "%s", mismatch);
		goto out;
	}
	if (mismatched)
		ag_log_info("document %s: %s (allowed by VALIDATE_MISMATCH)", doc->document_id, mismatch);

	if (inspect_applies(sniffed.mime)) {
		st = validate_inspect(ctx, app, fd, sniffed.mime, (long long)sb.st_size);
		if (st != AG_OK)
			goto out;
	}
	if (app->cfg->clamd_addr[0]) {
		st = validate_scan(ctx, app, fd, (long long)sb.st_size);
		if (st != AG_OK)
			goto out;
	}

	st = ag_step_tx(ctx, &conn, &err);
	if (st != AG_OK) {
		st = validate_broken(ctx, st, &err, "database");
		goto out;
	}
	const char *params[] = {doc->document_id, sniffed.mime, mismatched ? mismatch : NULL};
	st = ag_db_exec(conn, "UPDATE documents SET sniffed_mime = $2, type_mismatch = $3 WHERE id = $1", 3, params,
	                &res, &err);
	if (st != AG_OK) {
		st = validate_broken(ctx, st, &err, "recording the sniffed type");
		goto out;
	}
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		st = ag_step_fail(ctx, AG_E_NOTFOUND, "document_missing", "document %s does not exist (any more)",
		                  doc->document_id);
		goto out;
	}
	ag_log_debug("accepted a %s file of %lld bytes", sniffed.mime, (long long)sb.st_size);
out:
	PQclear(res);
	if (fd >= 0)
		close(fd);
	return st;
}

static ag_status validate_init(void *ud, ag_err *err)
{
	validate_app *app = ud;
	mismatch_policy_parse(app->cfg->mismatch, &app->mismatch);             /* validate_check passed it already */
	ag_status st = allow_parse(&app->allow, app->cfg->allowed_types, err); /* this one too */
	return st == AG_OK ? ag_sniff_new(&app->sniff, err) : st;
}

static void validate_fini(void *ud)
{
	validate_app *app = ud;
	ag_sniff_free(app->sniff);
}

int main(int argc, char **argv)
{
	static validate_cfg cfg;
	static validate_app app = {.cfg = &cfg};
	const ag_step_app worker = {
	        .spec = {.name = "validate",
	                 .needs = AG_NEEDS_SANDBOX,
	                 .items = validate_items,
	                 .nitems = sizeof validate_items / sizeof validate_items[0],
	                 .cfg = &cfg,
	                 .common = &cfg.common,
	                 .check = validate_check},
	        .step_cfg = &cfg.step,
	        .name = "validate",
	        .step = AEGIS__V1__STEP__STEP_VALIDATE,
	        .handler = validate_step,
	        .ud = &app,
	        .init = validate_init,
	        .fini = validate_fini,
	};
	return ag_step_main(&worker, argc, argv);
}
