/*
 * storage.h - where uploaded files live, behind a small const vtable.
 * Backends: "file:///dir" (a local or shared directory: compose volume, RWX
 * PVC) and "mem://" (unit tests only). S3 joins later behind the same calls.
 *
 * Keys are relative paths made of [A-Za-z0-9._-] segments separated by '/';
 * anything else (.., empty segments, leading '/') is AG_E_INVAL.
 *
 * A writer writes to a temporary object and only ag_storage_commit makes the
 * key visible (fsync + rename + directory fsync for files), so readers never
 * see a partial upload and an aborted one leaves nothing behind.
 * All calls block (use from the thread pool or worker threads).
 */
#ifndef AEGIS_STORAGE_H
#define AEGIS_STORAGE_H

#include "aegis/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ag_storage ag_storage;
typedef struct ag_storage_writer ag_storage_writer;

ag_status ag_storage_open(ag_storage **out, const char *url, ag_err *err);
void ag_storage_free(ag_storage *s); /* NULL ok */
/* Readiness: the backend answers (directory exists and is writable). */
bool ag_storage_ping(ag_storage *s);

ag_status ag_storage_writer_new(ag_storage *s, const char *key, ag_storage_writer **out, ag_err *err);
ag_status ag_storage_write(ag_storage_writer *w, const void *data, size_t len, ag_err *err);
/* Make the object visible under its key; frees the writer whatever the outcome. */
ag_status ag_storage_commit(ag_storage_writer *w, ag_err *err);
/* Discard the temporary object; frees the writer. NULL ok. */
void ag_storage_abort(ag_storage_writer *w);

/*
 * Resumable objects (tus uploads): an object that grows across requests and
 * process restarts, written in place under its own key (a staging key, not
 * one readers look at).
 *
 * ag_storage_writer_resume opens `key` for writing at `offset`: offset 0
 * creates it (or empties it); otherwise the object must hold at least
 * `offset` bytes (else AG_E_CONFLICT: bytes once made durable are gone) and
 * anything beyond `offset` (written but never synced before a crash) is cut
 * off. On such a writer ag_storage_sync makes the bytes written so far
 * durable, ag_storage_commit syncs and frees it (the object stays under
 * its key), and ag_storage_abort frees it keeping whatever was already
 * written (only synced bytes are promised to survive a crash).
 */
ag_status ag_storage_writer_resume(ag_storage *s, const char *key, uint64_t offset, ag_storage_writer **out,
                                   ag_err *err);
/* Make the bytes written so far durable; the writer stays open. A no-op for writers of ag_storage_writer_new
 * (their commit makes everything durable at once). */
ag_status ag_storage_sync(ag_storage_writer *w, ag_err *err);
/* Move an object to another key, atomically and durably; an object under `to` is replaced. AG_E_NOTFOUND when
 * `from` does not exist. */
ag_status ag_storage_rename(ag_storage *s, const char *from, const char *to, ag_err *err);

/* Read up to len bytes at offset; *got = 0 at end. AG_E_NOTFOUND when the key does not exist. */
ag_status ag_storage_read(ag_storage *s, const char *key, uint64_t offset, void *buf, size_t len, size_t *got,
                          ag_err *err);
ag_status ag_storage_size(ag_storage *s, const char *key, uint64_t *size, ag_err *err);
/*
 * A local file path with the object's bytes, for libraries that want a
 * path (libmagic, poppler). *path is malloc'd, caller free()s; call
 * ag_storage_local_done(s, path) when finished (removes a temporary copy,
 * if the backend had to make one, and frees path).
 */
ag_status ag_storage_local_path(ag_storage *s, const char *key, char **path, ag_err *err);
void ag_storage_local_done(ag_storage *s, char *path);
ag_status ag_storage_delete(ag_storage *s, const char *key, ag_err *err); /* missing key is OK */

/* true when key is well-formed (see above). */
bool ag_storage_key_valid(const char *key);

#endif
