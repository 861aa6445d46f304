/*
 * extract-content - the text of a document, stored twice: whole in
 * document_content (text, source charset, characters) and cut into
 * overlapping chunks in chunks, for search and for the AI step.
 *
 * The formats are listed in parse.c (text, Markdown, CSV/TSV, JSON, XML,
 * HTML, PDF, DOCX, XLSX, PPTX, ODT, ODS, ODP, EPUB, e-mail, ...); any
 * other sniffed type fails the step for good ("unsupported_format"). With OCR_ENABLED,
 * PNG, JPEG and TIFF images and PDF pages without a text layer are read by
 * Tesseract (ocr.h) in OCR_LANG. Every parse runs in
 * a sandboxed child process (aegis/sandbox.h): a parser that crashes, runs
 * out of memory or time fails this step only - retried PARSER_RETRIES
 * times, then failed for good - and the worker keeps serving. The text is
 * UTF-8, kept up to AG_TEXT_MAX_BYTES; a longer text is cut there with a
 * warning.
 * Re-running the step replaces the content row and every chunk of the
 * document in one transaction.
 */
#include "chunk.h"
#include "parse.h"
#include "store.h"

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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct content_cfg {
	ag_common_cfg common;
	ag_step_cfg step;
	long long chunk_chars;
	long long chunk_overlap;
	long long max_part_bytes;
	bool ocr_enabled;
	char *ocr_lang;
	long long ocr_dpi;
	long long ocr_max_pages;
	ag_sandbox_cfg parser;
	ag_mime_limits mail;
} content_cfg;

static const ag_cfg_item content_items[] = {
        AG_CFG_COMMON_ITEMS(content_cfg, "9003"),
        AG_STEP_CFG_ITEMS(content_cfg, "documents extracted"),
        {"CONTENT_CHUNK_CHARS", AG_CFG_INT, offsetof(content_cfg, chunk_chars), "1500", false, 1, CHUNK_MAX_CHARS,
         false, "largest chunk, in characters"},
        {"CONTENT_CHUNK_OVERLAP", AG_CFG_INT, offsetof(content_cfg, chunk_overlap), "200", false, 0,
         CHUNK_MAX_CHARS / 2, false,
         "characters a chunk repeats from the end of the one before (less than half of CONTENT_CHUNK_CHARS)"},
        {"CONTENT_MAX_PART_BYTES", AG_CFG_INT, offsetof(content_cfg, max_part_bytes), "536870912", false, 1024,
         1LL << 40, false, "uncompressed bytes read from one part of a DOCX/XLSX/PPTX/ODF/EPUB package"},
        {"OCR_ENABLED", AG_CFG_BOOL, offsetof(content_cfg, ocr_enabled), "false", false, 0, 0, false,
         "recognise the text of images and of PDF pages without a text layer with Tesseract"},
        {"OCR_LANG", AG_CFG_STR, offsetof(content_cfg, ocr_lang), "eng", false, 0, 0, false,
         "Tesseract languages, '+'-separated (each needs its tesseract-ocr-<lang> package)"},
        {"OCR_DPI", AG_CFG_INT, offsetof(content_cfg, ocr_dpi), "300", false, 72, 600, false,
         "resolution PDF pages are rendered at for OCR"},
        {"OCR_MAX_PAGES", AG_CFG_INT, offsetof(content_cfg, ocr_max_pages), "100", false, 1, 100000, false,
         "PDF pages OCR'd in one document; later text-less pages stay empty"},
        AG_SANDBOX_CFG_ITEMS(content_cfg),
        AG_MIME_CFG_ITEMS(content_cfg),
};

/* A chunk must move forward: the overlap stays below half a chunk (chunk.h). */
static int content_check(const void *cfg, FILE *report)
{
	const content_cfg *c = cfg;
	if (c->chunk_overlap == 0 || c->chunk_overlap * 2 < c->chunk_chars)
		return 0;
	fprintf(report, "config: CONTENT_CHUNK_OVERLAP (%lld) must be less than half of CONTENT_CHUNK_CHARS (%lld)\n",
	        c->chunk_overlap, c->chunk_chars);
	return 1;
}

typedef struct content_app {
	const content_cfg *cfg;
	ocr_opts ocr;
	ag_sniff *sniff;
} content_app;

static ag_status content_broken(ag_step_ctx *ctx, ag_status st, const ag_err *err, const char *what)
{
	return ag_step_fail(ctx, st, ag_status_name(st), "%s: %s", what, err->msg);
}

static void content_progress(void *ctx)
{
	ag_step_heartbeat(ctx);
}

/* The text of a parse: points into the sandbox output. */
typedef struct content_text {
	ag_sandbox_result res;
	char *text;
	size_t len;
	uint64_t chars;
	char charset[32];
	unsigned long long dropped;
	int truncated;
} content_text;

/* Run the parser in a sandbox and split its output (sink.h): text NUL trailer. */
static ag_status content_parse(ag_step_ctx *ctx, const content_app *app, int fd, const char *mime, content_text *t)
{
	parse_job job = {.fd = -1,
	                 .max_text = (size_t)AG_TEXT_MAX_BYTES,
	                 .max_part = (uint64_t)app->cfg->max_part_bytes,
	                 .ocr = app->ocr,
	                 .mail = app->cfg->mail};
	snprintf(job.mime, sizeof job.mime, "%s", mime);
	ag_sandbox_limits lim = ag_sandbox_limits_of(&app->cfg->parser, (size_t)AG_TEXT_MAX_BYTES + 4096);
	const ag_sandbox_call call = {.fn = parse_run, .arg = &job, .arg_size = sizeof job, .fd = fd};
	ag_err err = {0};
	ag_status st = ag_sandbox_run(&lim, &call, content_progress, ctx, &t->res, &err);
	if (st != AG_OK)
		return content_broken(ctx, st, &err, "starting the parser");
	char *nul = memchr(t->res.out, '\0', t->res.len);
	const char *trailer = nul ? nul + 1 : "";
	switch (t->res.outcome) {
	case AG_SANDBOX_OK:
		break;
	case AG_SANDBOX_FAILED: {
		const char *tab = strchr(trailer, '\t');
		if (!tab)
			return ag_step_fail(ctx, AG_E_INVAL, "parse_failed", "the %s parser failed (exit code %d)",
			                    mime, t->res.exit_code);
		return ag_step_fail(ctx, strncmp(trailer, "unsupported", 11) == 0 ? AG_E_UNSUPPORTED : AG_E_INVAL,
		                    "parse_failed", "%.*s: %s", (int)(tab - trailer), trailer, tab + 1);
	}
	default:
		return ag_step_fail(ctx, ag_sandbox_verdict(&t->res, ag_step_delivered(ctx), app->cfg->parser.retries),
		                    "parser_failed", "the %s parser ended with %s (signal %d)", mime,
		                    ag_sandbox_outcome_name(t->res.outcome), t->res.signal);
	}
	if (!nul || sscanf(trailer, "%31[^\t]\t%llu\t%d", t->charset, &t->dropped, &t->truncated) != 3)
		return ag_step_fail(ctx, AG_E_INTERNAL, "parser_output", "the %s parser wrote no trailer", mime);
	t->text = t->res.out;
	t->len = (size_t)(nul - t->res.out);
	for (size_t i = 0; i < t->len; i++)
		t->chars += ((unsigned char)t->text[i] & 0xC0) != 0x80;
	return AG_OK;
}

static ag_status content_step(ag_step_ctx *ctx, void *ud)
{
	const content_app *app = ud;
	const Aegis__V1__DocumentRef *doc = ag_step_doc(ctx);
	ag_err err = {0};
	const char *path = NULL;
	PGconn *conn = NULL;
	ag_sniff_result sniffed;
	content_text text = {0};
	store_chunks chunks = {0};
	int fd = -1;

	ag_status st = ag_step_local_path(ctx, &path, &err);
	if (st != AG_OK)
		return content_broken(ctx, st, &err, "cannot read the uploaded file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		st = ag_step_fail(ctx, AG_E_IO, "io", "cannot open the uploaded file: %s", strerror(errno));
		goto out;
	}
	st = ag_sniff_fd(app->sniff, fd, &sniffed, &err);
	if (st != AG_OK) {
		st = content_broken(ctx, st, &err, "cannot determine the file type");
		goto out;
	}
	if (!parse_supported(sniffed.mime, &app->ocr)) {
		st = ag_step_fail(ctx, AG_E_UNSUPPORTED, "unsupported_format", "text cannot be extracted from %s files",
		                  sniffed.mime);
		goto out;
	}

	st = content_parse(ctx, app, fd, sniffed.mime, &text);
	if (st != AG_OK)
		goto out;
	if (text.truncated)
		ag_log_warn("the text of document %s is longer than %lld bytes; the rest was left out",
		            doc->document_id, (long long)AG_TEXT_MAX_BYTES);
	if (text.dropped)
		ag_log_info("%llu invalid sequences left out of document %s", (unsigned long long)text.dropped,
		            doc->document_id);

	st = ag_step_tx(ctx, &conn, &err);
	if (st != AG_OK) {
		st = content_broken(ctx, st, &err, "database");
		goto out;
	}
	st = store_content(conn, doc->document_id, text.text, text.charset, text.chars, &err);
	if (st != AG_OK) {
		st = content_broken(ctx, st, &err, "storing the text");
		goto out;
	}
	st = store_chunks_begin(&chunks, conn, doc->document_id, content_progress, ctx, &err);
	if (st == AG_OK)
		st = chunk_split(text.text, text.len, (size_t)app->cfg->chunk_chars, (size_t)app->cfg->chunk_overlap,
		                 store_chunks_add, &chunks);
	if (st == AG_OK)
		st = store_chunks_end(&chunks);
	if (st != AG_OK) {
		st = content_broken(ctx, st, &err, "storing the chunks");
		goto out;
	}
	ag_log_debug("%llu characters of %s text in %zu chunks", (unsigned long long)text.chars, text.charset,
	             chunks.total);
out:
	store_chunks_free(&chunks);
	ag_sandbox_result_free(&text.res);
	if (fd >= 0)
		close(fd);
	return st;
}

static ag_status content_init(void *ud, ag_err *err)
{
	content_app *app = ud;
	app->ocr = (ocr_opts){.enabled = app->cfg->ocr_enabled,
	                      .lang = app->cfg->ocr_lang,
	                      .dpi = app->cfg->ocr_dpi,
	                      .max_pages = app->cfg->ocr_max_pages};
	return ag_sniff_new(&app->sniff, err);
}

static void content_fini(void *ud)
{
	content_app *app = ud;
	ag_sniff_free(app->sniff);
}

int main(int argc, char **argv)
{
	static content_cfg cfg;
	static content_app app = {.cfg = &cfg};
	const ag_step_app worker = {
	        .spec = {.name = "extract-content",
	                 .needs = AG_NEEDS_SANDBOX,
	                 .items = content_items,
	                 .nitems = sizeof content_items / sizeof content_items[0],
	                 .cfg = &cfg,
	                 .common = &cfg.common,
	                 .check = content_check},
	        .step_cfg = &cfg.step,
	        .name = "content",
	        .step = AEGIS__V1__STEP__STEP_CONTENT,
	        .handler = content_step,
	        .ud = &app,
	        .init = content_init,
	        .fini = content_fini,
	};
	return ag_step_main(&worker, argc, argv);
}
