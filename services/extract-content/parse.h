/*
 * parse.h - the child side of extract-content: given an open file and its
 * sniffed type, write its text to the sandbox pipe (sink.h format). Runs
 * only inside ag_sandbox_run (see sandbox.h for what a child may touch).
 */
#ifndef CONTENT_PARSE_H
#define CONTENT_PARSE_H

#include "ocr.h"

#include "aegis/mime.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Copied into the sandbox child byte for byte (aegis/sandbox.h): values, and pointers into the configuration only. */
typedef struct parse_job {
	int fd;                      /* set by parse_run from the sandbox's input file */
	char mime[AG_MIME_TYPE_MAX]; /* sniffed, lower-case */
	size_t max_text;             /* bytes of text kept */
	uint64_t max_part;           /* uncompressed bytes read from one part of a package */
	ocr_opts ocr;                /* enabled false = no OCR; lang points into the configuration */
	ag_mime_limits mail;         /* e-mail nesting and part limits */
} parse_job;

/* What extract-content can read: a sniffed MIME type -> true. With OCR on, images too. */
bool parse_supported(const char *mime, const ocr_opts *ocr);

/* An ag_sandbox_fn: arg is a parse_job. On failure the output ends with NUL + "code\tsentence". */
int parse_run(void *arg, int fd, FILE *out);

#endif
