/*
 * mcp.h - the Model Context Protocol endpoint for agents: POST /v1/mcp (and
 * /api/v1/mcp), JSON-RPC 2.0 over Streamable HTTP, legacy (2025-03-26 ..
 * 2025-11-25) semantics, JSON answers only (no SSE stream, no sessions).
 * Same bearer auth as the API; every tool sees only the caller's documents.
 *
 *   initialize      echoes a supported protocolVersion (else the newest),
 *                   capabilities {tools:{listChanged:false}}, serverInfo
 *   ping            {}
 *   tools/list      search_documents {query, mode?, limit?}
 *                   get_document {document_id}: metadata and AI results
 *                   (summary, keywords, language, category, PII counts)
 *                   get_document_content {document_id, max_chars?}
 *                   get_job {job_id}: state and error
 *                   upload_text {text, filename?}: a new text/plain document
 *                   and its queued job, as POST /v1/files makes them (stored,
 *                   recorded and announced through submit.h); text longer
 *                   than MAX_UPLOAD_BYTES is refused
 *   tools/call      {content:[{type:"text", text}], structuredContent, isError}
 *                   a tool that fails (not found, bad arguments, too large,
 *                   database, storage) answers isError:true with {error}
 *
 * Notifications and responses from the client -> 202 without a body. A body
 * that is not JSON -> 400 + -32700; not a JSON-RPC request -> 400 + -32600;
 * unknown method -> -32601; unknown tool or arguments that are not an object -> -32602. An
 * MCP-Protocol-Version header we do not support -> 400; an Origin header
 * whose host differs from Host -> 403 (DNS-rebinding guard). GET -> 405.
 * Route user data: `gateway *`.
 */
#ifndef GATEWAY_MCP_H
#define GATEWAY_MCP_H

#include "aegis/http.h"

#define MCP_PROTOCOL_LATEST     "2025-11-25"
#define MCP_CONTENT_MAX_DEFAULT 20000  /* characters get_document_content returns unless max_chars says less */
#define MCP_CONTENT_MAX         200000 /* highest max_chars */

void mcp_route(ag_http_req *req, void *gw);

#endif
