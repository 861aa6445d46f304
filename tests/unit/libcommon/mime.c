/* Tests libcommon/src/mime.c (with mime_text.c and mime_date.c): messages built here, well-formed and malformed,
 * read into parts, headers, decoded bodies and attachments; limits fail cleanly; mangled input never crashes. */
#include "aegis/mime.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

/* A growing message under construction. */
typedef struct msgbuf {
	char *p;
	size_t len, cap;
} msgbuf;

static void put(msgbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(msgbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* base64 of data, 76 characters a line, CRLF line ends. */
static void put_base64(msgbuf *b, const unsigned char *d, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int col = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v =
		        (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
		char q[4] = {a[v >> 18 & 63], a[v >> 12 & 63], i + 1 < n ? a[v >> 6 & 63] : '=',
		             i + 2 < n ? a[v & 63] : '='};
		put(b, q, 4);
		if ((col += 4) == 76) {
			puts_(b, "\r\n");
			col = 0;
		}
	}
	puts_(b, "\r\n");
}

static ag_mime_msg *parse(const msgbuf *b, const ag_mime_limits *lim)
{
	ag_mime_msg *m = NULL;
	ag_err err = {0};
	ag_status st = ag_mime_parse(b->p, b->len, lim, &m, &err);
	AG_CHECK_INT(st, AG_OK);
	if (st != AG_OK)
		fprintf(stderr, "  parse: %s\n", err.msg);
	return m;
}

/* The UTF-8 text of part i. */
static char *text_of(const ag_mime_msg *m, size_t i)
{
	char *t = NULL;
	size_t len;
	bool trunc;
	const ag_mime_part *p = ag_mime_part_at(m, i);
	if (!p || ag_mime_body(p, 1 << 20, true, &t, &len, &trunc, NULL) != AG_OK)
		return NULL;
	return t;
}

/* Index of the first part of type `type` (or -1). */
static int find(const ag_mime_msg *m, const char *type)
{
	for (size_t i = 0; i < ag_mime_count(m); i++)
		if (strcmp(ag_mime_part_at(m, i)->type, type) == 0)
			return (int)i;
	return -1;
}

static void mime_mixed_with_base64_attachment(void)
{
	unsigned char data[3001];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	msgbuf b = {0};
	puts_(&b, "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Quarterly figures\r\n"
	          "Date: Sun, 22 Nov 2026 10:00:00 +0100\r\nMessage-ID: <q3@example.com>\r\nMIME-Version: 1.0\r\n"
	          "Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n"
	          "This is a multi-part message in MIME format.\r\n"
	          "--=_outer\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	          "The figures are attached.\r\n"
	          "--=_outer\r\nContent-Type: application/octet-stream; name=\"ignored.bin\"\r\n"
	          "Content-Disposition: attachment; filename=\"figures.bin\"\r\n"
	          "Content-Transfer-Encoding: base64\r\n\r\n");
	put_base64(&b, data, sizeof data);
	puts_(&b, "--=_outer--\r\nepilogue\r\n");
	ag_mime_msg *m = parse(&b, NULL);
	if (!m)
		goto out;
	AG_CHECK_INT(ag_mime_count(m), 3);
	AG_CHECK_STR(ag_mime_part_at(m, 0)->type, "multipart/mixed");
	AG_CHECK(ag_mime_part_at(m, 0)->multipart);
	AG_CHECK_STR(ag_mime_header(m, 0, "subject"), "Quarterly figures");
	AG_CHECK_STR(ag_mime_header(m, 0, "From"), "Alice <alice@example.com>");
	const ag_mime_part *t = ag_mime_part_at(m, 1), *a = ag_mime_part_at(m, 2);
	AG_CHECK(t->text && !t->attachment);
	char *s = text_of(m, 1);
	AG_CHECK_STR(s, "The figures are attached.");
	free(s);
	AG_CHECK(a->attachment && !a->text);
	AG_CHECK_STR(a->filename, "figures.bin"); /* the disposition's filename wins over the type's name */
	AG_CHECK_STR(a->type, "application/octet-stream");
	AG_CHECK_INT(a->size, sizeof data);
	char *raw = NULL;
	size_t len = 0;
	bool trunc = true;
	AG_CHECK_INT(ag_mime_body(a, 1 << 20, false, &raw, &len, &trunc, NULL), AG_OK);
	AG_CHECK_INT(len, sizeof data);
	AG_CHECK(!trunc);
	AG_CHECK(raw && memcmp(raw, data, sizeof data) == 0);
	free(raw);
	AG_CHECK_INT(ag_mime_body(a, 100, false, &raw, &len, &trunc, NULL), AG_OK);
	AG_CHECK_INT(len, 100);
	AG_CHECK(trunc);
	free(raw);
	AG_CHECK_INT(ag_mime_defects(m), 0);
out:
	ag_mime_free(m);
	free(b.p);
}

static void mime_alternative_prefers_plain(void)
{
	static const char *const bodies[] = {
	        /* html first, plain second: plain is still the text */
	        "Content-Type: multipart/alternative; boundary=alt\n\n"
	        "--alt\nContent-Type: text/html; charset=utf-8\n\n<p>Hello <b>rich</b></p>\n"
	        "--alt\nContent-Type: text/plain; charset=utf-8\n\nHello plain\n--alt--\n",
	        /* plain first */
	        "Content-Type: multipart/alternative; boundary=alt\n\n"
	        "--alt\nContent-Type: text/plain\n\nHello plain\n"
	        "--alt\nContent-Type: text/html\n\n<p>Hello <b>rich</b></p>\n--alt--\n",
	};
	for (size_t k = 0; k < 2; k++) {
		msgbuf b = {0};
		puts_(&b, "From: a@example.com\nSubject: alt\n");
		puts_(&b, bodies[k]);
		ag_mime_msg *m = parse(&b, NULL);
		int plain = m ? find(m, "text/plain") : -1, html = m ? find(m, "text/html") : -1;
		AG_CHECK(plain > 0 && html > 0);
		if (plain > 0 && html > 0) {
			AG_CHECK(ag_mime_part_at(m, (size_t)plain)->text);
			AG_CHECK(!ag_mime_part_at(m, (size_t)html)->text);
			AG_CHECK(ag_mime_part_at(m, (size_t)html)->html);
			char *s = text_of(m, (size_t)plain);
			AG_CHECK_STR(s, "Hello plain");
			free(s);
		}
		ag_mime_free(m);
		free(b.p);
	}
	/* only HTML (inside multipart/related, with an inline image): the HTML is the text */
	msgbuf b = {0};
	puts_(&b,
	      "From: a@example.com\nSubject: alt\nContent-Type: multipart/alternative; boundary=\"a1\"\n\n"
	      "--a1\nContent-Type: multipart/related; boundary=\"r1\"\n\n"
	      "--r1\nContent-Type: text/html; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable\n\n"
	      "<p>Caf=E9</p>\n--r1\nContent-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
	      "iVBORw0KGgo=\n--r1--\n--a1--\n");
	ag_mime_msg *m = parse(&b, NULL);
	int html = m ? find(m, "text/html") : -1, png = m ? find(m, "image/png") : -1;
	AG_CHECK(html > 0 && png > 0);
	if (html > 0 && png > 0) {
		AG_CHECK(ag_mime_part_at(m, (size_t)html)->text);
		AG_CHECK(!ag_mime_part_at(m, (size_t)png)->attachment); /* inline, no file name */
		AG_CHECK_INT(ag_mime_part_at(m, (size_t)png)->size, 8);
		char *s = text_of(m, (size_t)html);
		AG_CHECK_STR(s, "<p>Caf\xc3\xa9</p>");
		free(s);
	}
	ag_mime_free(m);
	free(b.p);
}

static void mime_quoted_printable(void)
{
	msgbuf b = {0};
	puts_(&b, "From: a@example.com\r\nSubject: qp\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	          "Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
	          "caf=C3=A9 au lait, cr=c3=a8me br=C3=BBl=C3=A9e and a very long line that is wrapped=\r\n"
	          " here with a soft break   \r\n"
	          "a=3Db =\r\n"
	          "tail = kept\r\n");
	ag_mime_msg *m = parse(&b, NULL);
	char *s = m ? text_of(m, 0) : NULL;
	AG_CHECK_STR(s,
	             "caf\xc3\xa9 au lait, cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 and a very long line that is wrapped "
	             "here with a soft break\na=b tail = kept\n");
	AG_CHECK(m && ag_mime_part_at(m, 0)->text);
	free(s);
	ag_mime_free(m);
	free(b.p);
}

static void mime_encoded_words(void)
{
	msgbuf b = {0};
	puts_(&b,
	      "From: =?iso-8859-1?q?Zo=EB?= <zoe@example.com>\r\n"
	      "To: =?utf-8?B?QmrDtnJu?= <bjorn@example.com>, plain@example.com\r\n"
	      "Subject: =?UTF-8?B?Q2Fmw6k=?=\r\n =?utf-8?q?_cr=C3=A8me?= and\r\n\t=?windows-1252?Q?=93quotes=94?=\r\n"
	      "Cc: =?utf-8?x?not-a-word?=, =?utf-8?q?broken\r\n"
	      "X-Split: =?utf-8?B?w6k=?= =?utf-8?B?4oKs?=\r\n"
	      "X-Raw: d\xe9j\xe0 vu\r\n"
	      "\r\nbody\r\n");
	ag_mime_msg *m = parse(&b, NULL);
	if (m) {
		AG_CHECK_STR(ag_mime_header(m, 0, "From"), "Zo\xc3\xab <zoe@example.com>");
		AG_CHECK_STR(ag_mime_header(m, 0, "To"), "Bj\xc3\xb6rn <bjorn@example.com>, plain@example.com");
		/* folded, adjacent words joined, the space inside the second word kept, windows-1252 quotes */
		AG_CHECK_STR(ag_mime_header(m, 0, "Subject"),
		             "Caf\xc3\xa9 cr\xc3\xa8me and \xe2\x80\x9cquotes\xe2\x80\x9d");
		AG_CHECK_STR(ag_mime_header(m, 0, "Cc"), "=?utf-8?x?not-a-word?=, =?utf-8?q?broken");
		AG_CHECK_STR(ag_mime_header(m, 0, "X-Split"), "\xc3\xa9\xe2\x82\xac");
		AG_CHECK_STR(ag_mime_header(m, 0, "X-Raw"), "d\xc3\xa9j\xc3\xa0 vu"); /* 8-bit latin-1 in a header */
		AG_CHECK(ag_mime_header(m, 0, "Reply-To") == NULL);
		char *s = text_of(m, 0);
		AG_CHECK_STR(s, "body\n");
		free(s);
	}
	ag_mime_free(m);
	free(b.p);
}

static void mime_nested_and_forwarded(void)
{
	msgbuf b = {0};
	puts_(&b,
	      "From: a@example.com\nSubject: outer\nContent-Type: multipart/mixed; boundary=\"m1\"\n\n"
	      "--m1\nContent-Type: multipart/alternative; boundary=\"m2\"\n\n"
	      "--m2\nContent-Type: text/plain\n\nouter text\n"
	      "--m2\nContent-Type: text/html\n\n<p>outer text</p>\n--m2--\n"
	      "--m1\nContent-Type: message/rfc822\n\n"
	      "From: c@example.com\nSubject: =?utf-8?q?inner_=C3=A9?=\nContent-Type: multipart/mixed; boundary=m3\n\n"
	      "--m3\nContent-Type: text/plain\n\ninner text\n"
	      "--m3\nContent-Type: text/csv; name*=utf-8''na%C3%AFve%20list.csv\nContent-Disposition: attachment\n\n"
	      "a,b\n1,2\n--m3--\n"
	      "--m1\nContent-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=utf-8''r%C3%A9;\n"
	      " filename*1=\"port.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m1--\n");
	ag_mime_msg *m = parse(&b, NULL);
	if (!m)
		goto out;
	/* 0 mixed, 1 alternative, 2 plain, 3 html, 4 message, 5 inner mixed, 6 inner plain, 7 csv, 8 pdf */
	AG_CHECK_INT(ag_mime_count(m), 9);
	AG_CHECK(ag_mime_part_at(m, 4)->message);
	AG_CHECK_INT(ag_mime_part_at(m, 6)->depth, 3);
	AG_CHECK_INT(ag_mime_part_at(m, 6)->parent, 5);
	AG_CHECK_STR(ag_mime_header(m, 5, "Subject"), "inner \xc3\xa9");
	const bool text[9] = {false, false, true, false, false, false, true, false, false};
	for (int i = 0; i < 9; i++)
		AG_CHECK_INT(ag_mime_part_at(m, (size_t)i)->text, text[i]);
	AG_CHECK(ag_mime_part_at(m, 7)->attachment);
	AG_CHECK_STR(ag_mime_part_at(m, 7)->filename, "na\xc3\xafve list.csv");
	AG_CHECK_INT(ag_mime_part_at(m, 7)->size, 7); /* "a,b\n1,2": the last line break belongs to the delimiter */
	AG_CHECK_STR(ag_mime_part_at(m, 8)->filename, "r\xc3\xa9port.pdf");
	AG_CHECK_INT(ag_mime_part_at(m, 8)->size, 9);
	char *s = text_of(m, 6);
	AG_CHECK_STR(s, "inner text");
	free(s);
	AG_CHECK_INT(ag_mime_defects(m), 0);
out:
	ag_mime_free(m);
	free(b.p);
}

static void mime_malformed_best_effort(void)
{
	/* no closing delimiter: the last part runs to the end */
	msgbuf b = {0};
	puts_(&b, "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n"
	          "--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond, unterminated\n");
	ag_mime_msg *m = parse(&b, NULL);
	if (m) {
		AG_CHECK_INT(ag_mime_count(m), 3);
		char *s = text_of(m, 2);
		AG_CHECK_STR(s, "second, unterminated\n");
		free(s);
		AG_CHECK_INT(ag_mime_defects(m), 1);
		AG_CHECK_STR(ag_mime_first_defect(m), "a multipart without its closing delimiter");
	}
	ag_mime_free(m);
	free(b.p);

	/* a boundary that never appears, and one that is missing: the body is read as text */
	static const char *const nobound[] = {
	        "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary=zzz\n\nstill readable\n",
	        "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed\n\nstill readable\n",
	};
	for (size_t k = 0; k < 2; k++) {
		msgbuf c = {0};
		puts_(&c, nobound[k]);
		m = parse(&c, NULL);
		if (m) {
			AG_CHECK_INT(ag_mime_count(m), 1);
			AG_CHECK(ag_mime_part_at(m, 0)->text);
			char *s = text_of(m, 0);
			AG_CHECK_STR(s, "still readable\n");
			free(s);
			AG_CHECK(ag_mime_defects(m) > 0);
		}
		ag_mime_free(m);
		free(c.p);
	}

	/* bad base64: characters outside the alphabet are skipped, the rest decodes */
	msgbuf c = {0};
	puts_(&c, "From: a@example.com\nSubject: x\nContent-Transfer-Encoding: base64\n\naGVs!!bG8g\x01\xff"
	          "d29y*bGQ\n");
	m = parse(&c, NULL);
	char *s = m ? text_of(m, 0) : NULL;
	AG_CHECK_STR(s, "hello world");
	free(s);
	ag_mime_free(m);
	free(c.p);

	/* no header at all, an empty input, headers without a body */
	static const char *const odd[] = {"just some words\n", "", "From: a@example.com\nSubject: only headers"};
	static const char *const want[] = {"just some words\n", "", ""};
	for (size_t k = 0; k < 3; k++) {
		msgbuf d = {0};
		puts_(&d, odd[k]);
		if (!d.p)
			put(&d, "", 0);
		m = parse(&d, NULL);
		s = m ? text_of(m, 0) : NULL;
		AG_CHECK_STR(s, want[k]);
		free(s);
		ag_mime_free(m);
		free(d.p);
	}
}

static void mime_limits(void)
{
	/* nesting 200 deep against MAIL_MAX_DEPTH 20: a clear error naming the setting */
	msgbuf b = {0};
	puts_(&b, "From: a@example.com\nSubject: deep\n");
	for (int i = 0; i < 200; i++) {
		char line[96];
		snprintf(line, sizeof line, "Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n", i, i);
		puts_(&b, line);
	}
	puts_(&b, "Content-Type: text/plain\n\nbottom\n");
	ag_mime_msg *m = NULL;
	ag_err err = {0};
	AG_CHECK_INT(ag_mime_parse(b.p, b.len, NULL, &m, &err), AG_E_TOOBIG);
	AG_CHECK(m == NULL);
	AG_CHECK(strstr(err.msg, "MAIL_MAX_DEPTH") != NULL);
	/* the same message is fine when the setting allows it */
	ag_mime_limits deep = {.max_depth = AG_MIME_MAX_DEPTH, .max_parts = 1000};
	AG_CHECK_INT(ag_mime_parse(b.p, b.len, &deep, &m, &err), AG_E_TOOBIG); /* 200 > 100 */
	b.len = 0;
	puts_(&b, "From: a@example.com\nSubject: deep\n");
	for (int i = 0; i < 90; i++) {
		char line[96];
		snprintf(line, sizeof line, "Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n", i, i);
		puts_(&b, line);
	}
	puts_(&b, "Content-Type: text/plain\n\nbottom\n");
	AG_CHECK_INT(ag_mime_parse(b.p, b.len, &deep, &m, &err), AG_OK);
	if (m) {
		AG_CHECK_INT(ag_mime_count(m), 91);
		char *s = text_of(m, 90);
		AG_CHECK_STR(s, "bottom\n");
		free(s);
		AG_CHECK_INT(ag_mime_defects(m), 90); /* none of them closed */
	}
	ag_mime_free(m);
	m = NULL;

	/* 5000 parts against MAIL_MAX_PARTS 1000 */
	b.len = 0;
	puts_(&b, "From: a@example.com\nSubject: many\nContent-Type: multipart/mixed; boundary=p\n\n");
	for (int i = 0; i < 5000; i++)
		puts_(&b, "--p\n\nx\n");
	puts_(&b, "--p--\n");
	AG_CHECK_INT(ag_mime_parse(b.p, b.len, NULL, &m, &err), AG_E_TOOBIG);
	AG_CHECK(strstr(err.msg, "MAIL_MAX_PARTS") != NULL);
	ag_mime_limits many = {.max_depth = 20, .max_parts = 10000};
	AG_CHECK_INT(ag_mime_parse(b.p, b.len, &many, &m, &err), AG_OK);
	AG_CHECK(m && ag_mime_count(m) == 5001);
	ag_mime_free(m);
	free(b.p);
}

/* Cut, flip and splice a valid message in many ways: every result parses or fails cleanly (ASan/UBSan watch). */
static void mime_mangled_input_never_crashes(void)
{
	msgbuf b = {0};
	puts_(&b,
	      "From: =?utf-8?q?A=C3=A9?= <a@example.com>\r\nSubject: =?utf-8?B?w6k=?=\r\n"
	      "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\n"
	      "Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain; "
	      "charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9=\r\n ok\r\n--i\r\n"
	      "Content-Type: text/html; charset=\"utf-8\"\r\n\r\n<b>x</b>\r\n--i--\r\n--o\r\nContent-Type: "
	      "application/pdf; name*0*=utf-8''a%C3;\r\n name*1*=%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	      "JVBERi0xLjQK\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nhi\r\n--o--\r\n");
	unsigned seed = 12345;
	int parsed = 0;
	for (int round = 0; round < 3000; round++) {
		char *c = malloc(b.len + 1);
		memcpy(c, b.p, b.len);
		size_t len = b.len;
		int edits = 1 + round % 8;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % len;
			switch ((seed >> 4) % 4) {
			case 0:
				c[at] = (char)(seed >> 16);
				break;
			case 1:
				len = at + 1; /* truncate */
				break;
			case 2:
				c[at] = "=?-\r\n:;\"\\*'%"[(seed >> 16) % 13];
				break;
			default:
				memmove(c + at, c + at + 1, len - at - 1); /* drop a byte */
				len--;
				break;
			}
			if (len < 2)
				break;
		}
		ag_mime_msg *m = NULL;
		if (ag_mime_parse(c, len, NULL, &m, NULL) == AG_OK) {
			parsed++;
			for (size_t i = 0; i < ag_mime_count(m); i++) {
				char *t = text_of(m, i);
				free(t);
				ag_mime_header(m, i, "Subject");
			}
		}
		ag_mime_free(m);
		free(c);
	}
	AG_CHECK_INT(parsed, 3000); /* nothing here exceeds a limit, so every variant is read best-effort */
	free(b.p);
}

static void mime_dates(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"Sun, 22 Nov 2026 10:00:00 +0100", "2026-11-22T09:00:00Z"},
	        {"22 Nov 2026 23:30 -0230", "2026-11-23T02:00:00Z"},
	        {"Mon, 1 Jan 01 00:00:00 GMT", "2001-01-01T00:00:00Z"},
	        {"Tue, 30 Jun 98 12:00:00 PDT (comment)", "1998-06-30T19:00:00Z"},
	        {"Thu, 13 Feb 2025 08:15:59 +0000", "2025-02-13T08:15:59Z"},
	        {"Fri, 29 Feb 2024 12:00:00 A", "2024-02-29T12:00:00Z"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool okd = ag_mime_date(cases[i].in, buf, sizeof buf);
		AG_CHECK(okd);
		AG_CHECK_STR(okd ? buf : "", cases[i].want);
	}
	static const char *const bad[] = {"",
	                                  "yesterday",
	                                  "32 Nov 2026 10:00",
	                                  "22 Foo 2026 10:00",
	                                  "22 Nov 2026",
	                                  "22 Nov 2026 25:00:00 +0000",
	                                  "22 Nov 2026 10:00 +01"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		AG_CHECK(!ag_mime_date(bad[i], buf, sizeof buf));
}

static void mime_sniff_messages(void)
{
	static const struct {
		const char *s;
		bool msg;
	} cases[] = {
	        {"Subject: hi\r\nFrom: a@example.com\r\n\r\nbody\r\n", true},
	        {"To: b@example.com\nFrom: a@example.com\nContent-Type: text/plain\n\nbody\n", true},
	        {"From: a@example.com\nSubject: folded\n  second line\n", true},
	        {"Title: notes\nAuthor: me\n\nsome text\n", false},          /* fields, but no From */
	        {"From: a@example.com\n\nbody\n", false},                    /* From alone */
	        {"From: a@example.com\nsome words: and more\n\n", false},    /* not a field name */
	        {"hello world\nFrom: a@example.com\nSubject: x\n\n", false}, /* text first */
	        {"", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		AG_CHECK_INT(ag_mime_sniff(cases[i].s, strlen(cases[i].s)), cases[i].msg);
}

int main(void)
{
	AG_TEST_RUN(mime_mixed_with_base64_attachment);
	AG_TEST_RUN(mime_alternative_prefers_plain);
	AG_TEST_RUN(mime_quoted_printable);
	AG_TEST_RUN(mime_encoded_words);
	AG_TEST_RUN(mime_nested_and_forwarded);
	AG_TEST_RUN(mime_malformed_best_effort);
	AG_TEST_RUN(mime_limits);
	AG_TEST_RUN(mime_mangled_input_never_crashes);
	AG_TEST_RUN(mime_dates);
	AG_TEST_RUN(mime_sniff_messages);
	return ag_test_summary();
}
