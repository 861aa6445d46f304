/*
 * webpage.h - GET /: the web page (services/gateway/webpage.html, embedded
 * in the binary at build time): sign in or register, upload a file with a
 * progress bar, watch the job's steps live (its event stream, read with
 * fetch so the token stays in the Authorization header), see the result
 * (metadata, summary, keywords, a text excerpt) and the list of my jobs.
 * Self-contained: no external assets; served with a Content-Security-Policy
 * that allows only this origin. `/#selftest` runs a scripted sign-up +
 * upload (tests). Route user data: unused.
 */
#ifndef GATEWAY_WEBPAGE_H
#define GATEWAY_WEBPAGE_H

#include "aegis/http.h"

void webpage_get(ag_http_req *req, void *ud);

#endif
