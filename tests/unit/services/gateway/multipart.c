/* Tests services/gateway/multipart.c: boundary extraction and the streaming parser under every chunk split. */
#include "../../../../services/gateway/disposition.c"
#include "../../../../services/gateway/hparams.c"
#include "../../../../services/gateway/multipart.c"

#include "test.h"

#include <stdlib.h>

#define OUT_MAX 8192

/* What a consumer saw, flattened into one string so runs with different chunking compare equal. */
typedef struct collect {
	char out[OUT_MAX];
	size_t len;
	int fail_on_part; /* return an error from the Nth on_part (1-based), 0 = never */
	int parts;
} collect;

static void collect_add(collect *c, const char *s, size_t n)
{
	if (c->len + n >= OUT_MAX)
		n = OUT_MAX - 1 - c->len;
	memcpy(c->out + c->len, s, n);
	c->len += n;
	c->out[c->len] = '\0';
}

static ag_status collect_part(void *ud, const multipart_part *p)
{
	collect *c = ud;
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "<part name=%s file=%s%s ct=%s>", p->cd.name,
	                 p->cd.has_filename ? "" : "(none)", p->cd.filename, p->content_type);
	collect_add(c, buf, (size_t)n);
	if (++c->parts == c->fail_on_part)
		return AG_E_REJECTED;
	return AG_OK;
}

static ag_status collect_data(void *ud, const char *d, size_t n)
{
	AG_CHECK(n > 0);
	collect_add(ud, d, n);
	return AG_OK;
}

static ag_status collect_end(void *ud)
{
	collect_add(ud, "</part>", 7);
	return AG_OK;
}

static const multipart_callbacks collect_cb = {collect_part, collect_data, collect_end};

static const char sample[] = "This is the preamble.\r\n"
                             "--XyZ\r\n"
                             "Content-Disposition: form-data; name=\"note\"\r\n"
                             "\r\n"
                             "hello\r\n"
                             "--XyZ  \r\n" /* transport padding is allowed */
                             "content-disposition: form-data; name=\"file\"; filename=\"dir/re\\\"port.txt\"\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "line1\r\n--XyY \r\r\n--Xy\r\n-\r\n--\r\r\n\r\n--X"
                             "\r\n"
                             "--XyZ\r\n"
                             "\r\n"
                             "\r\n"
                             "--XyZ--\r\n"
                             "epilogue --XyZ garbage";

static const char sample_expect[] = "<part name=note file=(none) ct=>hello</part>"
                                    "<part name=file file=dir/re\"port.txt ct=text/plain>"
                                    "line1\r\n--XyY \r\r\n--Xy\r\n-\r\n--\r\r\n\r\n--X</part>"
                                    "<part name= file=(none) ct=></part>";

/* Feed `body` in pieces cut at the given offsets; returns the final status. */
static ag_status run_split(const char *body, size_t len, const size_t *cuts, int ncuts, collect *c, bool *complete)
{
	multipart mp;
	size_t prev = 0;
	ag_status st = AG_OK;
	memset(c, 0, sizeof *c);
	multipart_init(&mp, "XyZ", &collect_cb, c);
	for (int i = 0; i <= ncuts && st == AG_OK; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		st = multipart_feed(&mp, body + prev, end - prev);
		prev = end;
	}
	*complete = multipart_complete(&mp);
	return st;
}

static void parses_whole_body(void)
{
	collect c;
	bool complete;
	AG_CHECK_INT(run_split(sample, sizeof sample - 1, NULL, 0, &c, &complete), AG_OK);
	AG_CHECK(complete);
	AG_CHECK_STR(c.out, sample_expect);
}

static void every_two_way_split_gives_the_same_parts(void)
{
	size_t len = sizeof sample - 1;
	int bad = 0;
	for (size_t i = 0; i <= len; i++) {
		collect c;
		bool complete;
		ag_status st = run_split(sample, len, &i, 1, &c, &complete);
		if (st != AG_OK || !complete || strcmp(c.out, sample_expect) != 0) {
			if (bad++ < 3)
				fprintf(stderr, "  split at %zu: status %s, complete %d, got %s\n", i,
				        ag_status_name(st), complete, c.out);
		}
	}
	AG_CHECK_INT(bad, 0);
}

static void every_three_way_split_gives_the_same_parts(void)
{
	size_t len = sizeof sample - 1;
	int bad = 0;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			size_t cuts[2] = {i, j};
			collect c;
			bool complete;
			ag_status st = run_split(sample, len, cuts, 2, &c, &complete);
			if (st != AG_OK || !complete || strcmp(c.out, sample_expect) != 0)
				bad++;
		}
	}
	AG_CHECK_INT(bad, 0);
}

static void byte_at_a_time(void)
{
	size_t len = sizeof sample - 1;
	size_t *cuts = malloc(len * sizeof *cuts);
	collect c;
	bool complete;
	AG_CHECK(cuts != NULL);
	if (!cuts)
		return;
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	AG_CHECK_INT(run_split(sample, len, cuts, (int)len, &c, &complete), AG_OK);
	AG_CHECK(complete);
	AG_CHECK_STR(c.out, sample_expect);
	free(cuts);
}

static void body_without_preamble_and_binary_data(void)
{
	static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=file; filename=a.bin\r\n\r\n"
	                           "\x00\xff\r\r\r\n-\x00"
	                           "\r\n--XyZ--";
	collect c;
	bool complete;
	AG_CHECK_INT(run_split(body, sizeof body - 1, NULL, 0, &c, &complete), AG_OK);
	AG_CHECK(complete);
	static const char want[] = "<part name=file file=a.bin ct=>\x00\xff\r\r\r\n-\x00</part>";
	AG_CHECK_INT(c.len, sizeof want - 1);
	AG_CHECK(memcmp(c.out, want, sizeof want - 1) == 0);
}

static void preamble_near_misses_are_skipped(void)
{
	static const char body[] = "x\r\n--Xy\r\n--XyZ\r\n\r\ndata\r\n--XyZ--";
	size_t len = sizeof body - 1;
	int bad = 0;
	for (size_t i = 0; i <= len; i++) {
		collect c;
		bool complete;
		ag_status st = run_split(body, len, &i, 1, &c, &complete);
		if (st != AG_OK || !complete || strcmp(c.out, "<part name= file=(none) ct=>data</part>") != 0)
			bad++;
	}
	AG_CHECK_INT(bad, 0);
}

static void truncated_body_is_not_complete(void)
{
	collect c;
	bool complete;
	size_t cut = (size_t)(strstr(sample, "--XyZ--") - sample) + 5; /* "--XyZ" seen, not the "--" */
	AG_CHECK_INT(run_split(sample, cut, NULL, 0, &c, &complete), AG_OK);
	AG_CHECK(!complete);
	/* a body that stops inside part data */
	AG_CHECK_INT(run_split(sample, 150, NULL, 0, &c, &complete), AG_OK);
	AG_CHECK(!complete);
}

static ag_status feed_all(const char *body, collect *c, multipart *mp)
{
	memset(c, 0, sizeof *c);
	multipart_init(mp, "XyZ", &collect_cb, c);
	return multipart_feed(mp, body, strlen(body));
}

static void malformed_bodies_fail(void)
{
	collect c;
	multipart mp;
	AG_CHECK_INT(feed_all("--XyZjunk\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_STR(multipart_error(&mp), "junk after a boundary");
	AG_CHECK_INT(feed_all("--XyZ\n\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_INT(feed_all("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx", &c, &mp), AG_E_PROTO);
	AG_CHECK_INT(feed_all("--XyZ\r\nX-A: 1\r\n folded\r\n\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_STR(multipart_error(&mp), "folded part header");
	AG_CHECK_INT(feed_all("--XyZ\r\nno colon here\r\n\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_INT(feed_all("--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_INT(feed_all("--XyZ\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n", &c, &mp), AG_E_PROTO);
	AG_CHECK_INT(feed_all("--XyZ\r\nContent-Type: a/b\rX\r\n\r\n", &c, &mp), AG_E_PROTO);
	/* once failed, it stays failed */
	AG_CHECK_INT(multipart_feed(&mp, "\r\n--XyZ--", 9), AG_E_PROTO);
	AG_CHECK(!multipart_complete(&mp));
}

static void header_block_and_part_count_are_bounded(void)
{
	collect c;
	multipart mp;
	char *body = malloc(MULTIPART_HEADER_BYTES_MAX + 64);
	AG_CHECK(body != NULL);
	if (!body)
		return;
	size_t n = (size_t)snprintf(body, 64, "--XyZ\r\nX-Big: ");
	memset(body + n, 'a', MULTIPART_HEADER_BYTES_MAX);
	body[n + MULTIPART_HEADER_BYTES_MAX] = '\0';
	AG_CHECK_INT(feed_all(body, &c, &mp), AG_E_TOOBIG);
	AG_CHECK_STR(multipart_error(&mp), "part headers too large");
	free(body);

	size_t cap = (MULTIPART_PARTS_MAX + 2) * 16 + 16;
	char *many = malloc(cap);
	AG_CHECK(many != NULL);
	if (!many)
		return;
	size_t len = 0;
	for (int i = 0; i <= MULTIPART_PARTS_MAX; i++)
		len += (size_t)snprintf(many + len, cap - len, "--XyZ\r\n\r\nx\r\n");
	AG_CHECK_INT(feed_all(many, &c, &mp), AG_E_TOOBIG);
	AG_CHECK_STR(multipart_error(&mp), "too many parts");
	AG_CHECK_INT(c.parts, MULTIPART_PARTS_MAX);
	free(many);
}

static void callback_errors_stop_the_parser(void)
{
	collect c;
	multipart mp;
	memset(&c, 0, sizeof c);
	c.fail_on_part = 2;
	multipart_init(&mp, "XyZ", &collect_cb, &c);
	AG_CHECK_INT(multipart_feed(&mp, sample, sizeof sample - 1), AG_E_REJECTED);
	AG_CHECK_INT(c.parts, 2);
	AG_CHECK(strstr(c.out, "line1") == NULL); /* no data of the refused part was delivered */
}

static void boundary_from_content_type(void)
{
	char b[AG_MULTIPART_BOUNDARY_MAX + 1];
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk", b), AG_OK);
	AG_CHECK_STR(b, "----WebKitFormBoundary7MA4YWxk");
	AG_CHECK_INT(multipart_boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a b'()+_,-./:=?\"", b), AG_OK);
	AG_CHECK_STR(b, "a b'()+_,-./:=?");
	AG_CHECK_INT(multipart_boundary("multipart/form-data", b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=\"\"", b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=\"ends in space \"", b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=a;boundary=b", b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=\"semi;colon\"", b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("multipart/form-data; boundary=\"x\ry\"", b), AG_E_PROTO);
	char longb[128];
	int n = snprintf(longb, sizeof longb, "multipart/form-data; boundary=");
	memset(longb + n, 'b', 70);
	longb[n + 70] = '\0';
	AG_CHECK_INT(multipart_boundary(longb, b), AG_OK);
	AG_CHECK_INT(strlen(b), 70);
	longb[n + 70] = 'b';
	longb[n + 71] = '\0';
	AG_CHECK_INT(multipart_boundary(longb, b), AG_E_PROTO);
	AG_CHECK_INT(multipart_boundary("text/plain; boundary=x", b), AG_E_UNSUPPORTED);
	AG_CHECK_INT(multipart_boundary("multipart/mixed; boundary=x", b), AG_E_UNSUPPORTED);
	AG_CHECK_INT(multipart_boundary(NULL, b), AG_E_UNSUPPORTED);
}

static void longest_boundary_works_across_splits(void)
{
	char boundary[AG_MULTIPART_BOUNDARY_MAX + 1];
	char body[512];
	memset(boundary, 'q', AG_MULTIPART_BOUNDARY_MAX);
	boundary[AG_MULTIPART_BOUNDARY_MAX] = '\0';
	int len = snprintf(body, sizeof body,
	                   "--%s\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--%.69s!\r\n--%s--",
	                   boundary, boundary, boundary);
	int bad = 0;
	for (int i = 0; i <= len; i++) {
		collect c;
		multipart mp;
		memset(&c, 0, sizeof c);
		multipart_init(&mp, boundary, &collect_cb, &c);
		ag_status st = multipart_feed(&mp, body, (size_t)i);
		if (st == AG_OK)
			st = multipart_feed(&mp, body + i, (size_t)(len - i));
		char want[256];
		snprintf(want, sizeof want, "<part name=file file=(none) ct=>abc\r\n--%.69s!</part>", boundary);
		if (st != AG_OK || !multipart_complete(&mp) || strcmp(c.out, want) != 0)
			bad++;
	}
	AG_CHECK_INT(bad, 0);
}

int main(void)
{
	AG_TEST_RUN(parses_whole_body);
	AG_TEST_RUN(every_two_way_split_gives_the_same_parts);
	AG_TEST_RUN(every_three_way_split_gives_the_same_parts);
	AG_TEST_RUN(byte_at_a_time);
	AG_TEST_RUN(body_without_preamble_and_binary_data);
	AG_TEST_RUN(preamble_near_misses_are_skipped);
	AG_TEST_RUN(truncated_body_is_not_complete);
	AG_TEST_RUN(malformed_bodies_fail);
	AG_TEST_RUN(header_block_and_part_count_are_bounded);
	AG_TEST_RUN(callback_errors_stop_the_parser);
	AG_TEST_RUN(boundary_from_content_type);
	AG_TEST_RUN(longest_boundary_works_across_splits);
	return ag_test_summary();
}
