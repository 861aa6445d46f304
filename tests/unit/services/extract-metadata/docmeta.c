/*
 * Tests services/extract-metadata/docmeta.c (with pdfmeta, pkgmeta, imgmeta) on real files made at test time:
 * a DOCX and an ODT by pandoc with title and author, a PDF by groff + Ghostscript with document information, a
 * JPEG by Ghostscript with an EXIF block (camera, date, GPS) built by libexif; each read through the sandbox.
 */
#include "../../../../services/extract-metadata/docmeta.c"
#include "../../../../services/extract-metadata/imgmeta.c"
#include "../../../../services/extract-metadata/mailmeta.c"
#include "../../../../services/extract-metadata/pdfmeta.c"
#include "../../../../services/extract-metadata/pkgmeta.c"

#include "test.h"

#include "aegis/sandbox.h"

#include <fcntl.h>
#include <libexif/exif-data.h>
#include <stdlib.h>
#include <sys/stat.h>

static char dir[] = "/tmp/ag-docmeta-XXXXXX";

static int sh(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
	return rc;
}

/* Read `name` in dir through docmeta_run in a sandbox; the parsed JSON object (json_decref) or NULL. */
static json_t *meta_of(const char *name, const char *mime, int *exit_code)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "  cannot open %s\n", path);
		return NULL;
	}
	docmeta_job job = {.fd = -1, .mail = ag_mime_default_limits};
	snprintf(job.mime, sizeof job.mime, "%s", mime);
	const ag_sandbox_call call = {.fn = docmeta_run, .arg = &job, .arg_size = sizeof job, .fd = fd};
	ag_sandbox_limits lim = {
	        .memory_bytes = 0, .cpu_seconds = 30, .timeout_ms = 60000, .max_output = DOCMETA_MAX_OUTPUT};
	ag_sandbox_result res;
	json_t *o = NULL;
	if (ag_sandbox_run(&lim, &call, NULL, NULL, &res, NULL) == AG_OK) {
		if (exit_code)
			*exit_code = res.outcome == AG_SANDBOX_FAILED ? res.exit_code : 0;
		if (res.outcome == AG_SANDBOX_OK)
			o = json_loads(res.out, 0, NULL);
		else if (!exit_code)
			fprintf(stderr, "  %s: outcome %s: %s\n", name, ag_sandbox_outcome_name(res.outcome), res.out);
		ag_sandbox_result_free(&res);
	}
	close(fd);
	return o;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void docmeta_docx_and_odt(void)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "cd %s && printf -- '---\\ntitle: Quarterly Report\\nauthor: Ada Lovelace\\n---\\n\\nHello world.\\n' "
	         "> "
	         "d.md && pandoc d.md -o d.docx && pandoc d.md -o d.odt",
	         dir);
	AG_CHECK_INT(sh(cmd), 0);
	json_t *o = meta_of("d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", NULL);
	AG_CHECK(o != NULL);
	AG_CHECK_STR(str_of(o, "title"), "Quarterly Report");
	AG_CHECK_STR(str_of(o, "author"), "Ada Lovelace");
	const char *created = str_of(o, "created");
	AG_CHECK(created && strlen(created) == 20 && created[10] == 'T' && created[19] == 'Z');
	AG_CHECK(json_object_get(o, "modified") != NULL);
	AG_CHECK(json_object_get(o, "keywords") == NULL); /* empty in the file: left out */
	json_decref(o);

	o = meta_of("d.odt", "application/vnd.oasis.opendocument.text", NULL);
	AG_CHECK(o != NULL);
	AG_CHECK_STR(str_of(o, "title"), "Quarterly Report");
	AG_CHECK_STR(str_of(o, "author"), "Ada Lovelace");
	AG_CHECK(str_of(o, "application") && strncmp(str_of(o, "application"), "Pandoc", 6) == 0);
	AG_CHECK(str_of(o, "created") != NULL);
	json_decref(o);
}

static void docmeta_pdf(void)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "cd %s && printf '.TL\\nHello\\n.PP\\nOne page of text.\\n' | groff -ms -Tps > p.ps && "
	         "gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pdfwrite -o p.pdf p.ps -c "
	         "'[ /Title (Aegis Test Title) /Author (Ann Author) /Subject (Testing) /Keywords (alpha beta) "
	         "/DOCINFO pdfmark'",
	         dir);
	AG_CHECK_INT(sh(cmd), 0);
	json_t *o = meta_of("p.pdf", "application/pdf", NULL);
	AG_CHECK(o != NULL);
	AG_CHECK_INT(json_integer_value(json_object_get(o, "pages")), 1);
	AG_CHECK_STR(str_of(o, "title"), "Aegis Test Title");
	AG_CHECK_STR(str_of(o, "author"), "Ann Author");
	AG_CHECK_STR(str_of(o, "subject"), "Testing");
	AG_CHECK_STR(str_of(o, "keywords"), "alpha beta");
	AG_CHECK(str_of(o, "creator") && strstr(str_of(o, "creator"), "groff"));
	AG_CHECK(str_of(o, "producer") && strstr(str_of(o, "producer"), "Ghostscript"));
	const char *created = str_of(o, "created");
	AG_CHECK(created && strlen(created) == 20 && created[4] == '-' && created[19] == 'Z');
	AG_CHECK(str_of(o, "pdf_version") && str_of(o, "pdf_version")[1] == '.');
	AG_CHECK(json_is_false(json_object_get(o, "encrypted")));
	json_decref(o);

	/* a damaged PDF: a parse error, not a crash */
	snprintf(cmd, sizeof cmd, "cd %s && head -c 300 p.pdf > bad.pdf", dir);
	AG_CHECK_INT(sh(cmd), 0);
	int code = 0;
	o = meta_of("bad.pdf", "application/pdf", &code);
	AG_CHECK(o == NULL);
	AG_CHECK_INT(code, AG_SANDBOX_EXIT_FAIL);
}

static ExifEntry *exif_put(ExifData *ed, ExifIfd ifd, ExifTag tag, ExifFormat fmt, unsigned long n)
{
	ExifMem *mem = exif_mem_new_default();
	ExifEntry *e = exif_entry_new_mem(mem);
	e->tag = tag;
	e->format = fmt;
	e->components = n;
	e->size = (unsigned int)(exif_format_get_size(fmt) * n);
	e->data = exif_mem_alloc(mem, e->size);
	exif_content_add_entry(ed->ifd[ifd], e);
	exif_entry_unref(e);
	exif_mem_unref(mem);
	return e;
}

static void exif_ascii(ExifData *ed, ExifIfd ifd, ExifTag tag, const char *s)
{
	ExifEntry *e = exif_put(ed, ifd, tag, EXIF_FORMAT_ASCII, strlen(s) + 1);
	memcpy(e->data, s, strlen(s) + 1);
}

static void exif_dms(ExifData *ed, ExifTag tag, ExifTag ref, const char *letter, unsigned d, unsigned m, unsigned s100)
{
	ExifEntry *e = exif_put(ed, EXIF_IFD_GPS, tag, EXIF_FORMAT_RATIONAL, 3);
	ExifByteOrder bo = exif_data_get_byte_order(ed);
	exif_set_rational(e->data, bo, (ExifRational){d, 1});
	exif_set_rational(e->data + 8, bo, (ExifRational){m, 1});
	exif_set_rational(e->data + 16, bo, (ExifRational){s100, 100});
	exif_ascii(ed, EXIF_IFD_GPS, ref, letter);
}

/* The JPEG gs made with an APP1 EXIF segment put right after its SOI marker. */
static int write_exif_jpeg(const char *from, const char *to)
{
	ExifData *ed = exif_data_new();
	exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_MOTOROLA);
	exif_ascii(ed, EXIF_IFD_0, EXIF_TAG_MAKE, "AegisCam");
	exif_ascii(ed, EXIF_IFD_0, EXIF_TAG_MODEL, "Model 7");
	exif_ascii(ed, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, "2021:06:15 13:45:30");
	exif_dms(ed, EXIF_TAG_GPS_LATITUDE, EXIF_TAG_GPS_LATITUDE_REF, "N", 48, 51, 2400); /* 48.8566667 */
	exif_dms(ed, EXIF_TAG_GPS_LONGITUDE, EXIF_TAG_GPS_LONGITUDE_REF, "W", 2, 21, 0);   /* -2.35 */
	unsigned char *exif = NULL;
	unsigned int exif_len = 0;
	exif_data_save_data(ed, &exif, &exif_len);
	exif_data_unref(ed);

	int rc = -1;
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	unsigned char buf[65536];
	size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
	if (exif && exif_len + 2 < 65536 && out && n > 2 && buf[0] == 0xFF && buf[1] == 0xD8) {
		unsigned char hdr[4] = {0xFF, 0xE1, (unsigned char)((exif_len + 2) >> 8),
		                        (unsigned char)(exif_len + 2)};
		fwrite(buf, 1, 2, out);
		fwrite(hdr, 1, 4, out);
		fwrite(exif, 1, exif_len, out);
		fwrite(buf + 2, 1, n - 2, out);
		while ((n = fread(buf, 1, sizeof buf, in)) > 0)
			fwrite(buf, 1, n, out);
		rc = 0;
	}
	free(exif);
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

static void docmeta_jpeg_exif(void)
{
	char cmd[1024], from[512], to[512];
	snprintf(cmd, sizeof cmd,
	         "cd %s && printf '%%%%!PS\\n/Helvetica findfont 20 scalefont setfont 10 10 moveto (Hi) show "
	         "showpage\\n' "
	         "> i.ps && gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=jpeg -r72 -g64x48 -o plain.jpg i.ps",
	         dir);
	AG_CHECK_INT(sh(cmd), 0);
	snprintf(from, sizeof from, "%s/plain.jpg", dir);
	snprintf(to, sizeof to, "%s/exif.jpg", dir);
	AG_CHECK_INT(write_exif_jpeg(from, to), 0);

	json_t *o = meta_of("exif.jpg", "image/jpeg", NULL);
	AG_CHECK(o != NULL);
	AG_CHECK_INT(json_integer_value(json_object_get(o, "width")), 64);
	AG_CHECK_INT(json_integer_value(json_object_get(o, "height")), 48);
	AG_CHECK_STR(str_of(o, "camera_make"), "AegisCam");
	AG_CHECK_STR(str_of(o, "camera_model"), "Model 7");
	AG_CHECK_STR(str_of(o, "taken_at"), "2021-06-15T13:45:30");
	double lat = json_real_value(json_object_get(o, "gps_lat")),
	       lon = json_real_value(json_object_get(o, "gps_lon"));
	AG_CHECK(lat > 48.85666 && lat < 48.85667);
	AG_CHECK(lon < -2.34999 && lon > -2.35001);
	json_decref(o);

	/* without EXIF: only the dimensions */
	o = meta_of("plain.jpg", "image/jpeg", NULL);
	AG_CHECK(o != NULL);
	AG_CHECK_INT(json_integer_value(json_object_get(o, "width")), 64);
	AG_CHECK(json_object_get(o, "camera_make") == NULL);
	json_decref(o);
}

static void docmeta_dates_and_merge(void)
{
	char buf[64];
	AG_CHECK(pkgmeta_date("2024-03-01T10:00:00+02:00", buf, sizeof buf));
	AG_CHECK_STR(buf, "2024-03-01T08:00:00Z");
	AG_CHECK(pkgmeta_date("2024-03-01T10:00:00.123", buf, sizeof buf));
	AG_CHECK_STR(buf, "2024-03-01T10:00:00");
	AG_CHECK(!pkgmeta_date("yesterday", buf, sizeof buf));

	char *m = docmeta_merge("{\"size\":3,\"mime\":\"application/pdf\"}", "{\"pages\":2,\"size\":99}");
	AG_CHECK_STR(m, "{\"size\":3,\"mime\":\"application/pdf\",\"pages\":2}");
	free(m);
	AG_CHECK(docmeta_merge("{}", "not json") == NULL);

	json_t *o = json_object();
	AG_CHECK_INT(docmeta_set_str(o, "a", "  padded  "), 0);
	AG_CHECK_INT(docmeta_set_str(o, "b", "\xff\xfe"), 0); /* invalid UTF-8: left out */
	AG_CHECK_STR(str_of(o, "a"), "padded");
	AG_CHECK(json_object_get(o, "b") == NULL);
	json_decref(o);

	AG_CHECK(docmeta_applies("application/pdf"));
	AG_CHECK(docmeta_applies("application/vnd.oasis.opendocument.spreadsheet"));
	AG_CHECK(docmeta_applies("image/png"));
	AG_CHECK(!docmeta_applies("text/plain"));
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	AG_TEST_RUN(docmeta_docx_and_odt);
	AG_TEST_RUN(docmeta_pdf);
	AG_TEST_RUN(docmeta_jpeg_exif);
	AG_TEST_RUN(docmeta_dates_and_merge);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	sh(cmd);
	return ag_test_summary();
}
