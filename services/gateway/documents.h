/*
 * documents.h - the caller's documents (every query is scoped by owner).
 *
 *   GET /v1/documents/{id}          {id, filename, size, sha256, mime, created_at, metadata:{…},
 *                                    ai:{summary, keywords:[…], language}}
 *                                   mime = sniffed type, else the claimed one; metadata {} and
 *                                   ai {null, [], null} until the pipeline produced them
 *   GET /v1/documents/{id}/content  the extracted text, text/plain; charset=utf-8
 *                                   (404 "content not extracted yet" before that)
 *   GET /v1/documents?limit=&cursor= {items:[{id, filename, size, mime, created_at}], next_cursor}
 *                                   newest first, keyset pagination on (created_at, id);
 *                                   limit 1..100 (default 20); next_cursor null on the last page
 *
 * Unknown, foreign and malformed ids are 404; an admin (token role admin) may read any owner's
 * document and content by id (the list stays the caller's own). Route user data: `gateway *`.
 */
#ifndef GATEWAY_DOCUMENTS_H
#define GATEWAY_DOCUMENTS_H

#include "aegis/http.h"

#define DOCUMENTS_LIMIT_DEFAULT 20
#define DOCUMENTS_LIMIT_MAX     100

void documents_get(ag_http_req *req, void *gw);
void documents_content(ag_http_req *req, void *gw);
void documents_list(ag_http_req *req, void *gw);

#endif
