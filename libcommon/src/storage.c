/*
 * storage.c - the front of storage.h: parses STORAGE_URL, validates keys and
 * arguments once, and dispatches to the backend's const vtable
 * (storage_fs.c for file:///dir, storage_mem.c for mem://).
 */
#include "aegis/storage.h"

#include "storage_backend.h"

#include <stdlib.h>
#include <string.h>

#define STORAGE_KEY_MAX     1024 /* bytes in a key */
#define STORAGE_SEGMENT_MAX 255  /* bytes in one '/'-separated segment (NAME_MAX) */
#define STORAGE_ROOT_MAX    2048 /* bytes in a file:// directory, so root + key stays under PATH_MAX */
#define STORAGE_TMP_PREFIX  ".tmp-"

static bool storage_key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
	       ch == '_' || ch == '-';
}

/* Also refused: "." (it would alias another key) and the prefix writers use for temporary files. */
bool ag_storage_key_valid(const char *key)
{
	if (!key || !key[0] || strnlen(key, STORAGE_KEY_MAX + 1) > STORAGE_KEY_MAX)
		return false;
	const char *seg = key;
	for (const char *p = key;; p++) {
		if (*p != '/' && *p != '\0') {
			if (!storage_key_char(*p))
				return false;
			continue;
		}
		size_t n = (size_t)(p - seg);
		if (n == 0 || n > STORAGE_SEGMENT_MAX)
			return false;
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (n >= sizeof STORAGE_TMP_PREFIX - 1 &&
		    memcmp(seg, STORAGE_TMP_PREFIX, sizeof STORAGE_TMP_PREFIX - 1) == 0)
			return false;
		if (*p == '\0')
			return true;
		seg = p + 1;
	}
}

static ag_status storage_bad_key(ag_err *err)
{
	return ag_err_set(err, AG_E_INVAL,
	                  "invalid storage key: want segments of [A-Za-z0-9._-] separated by '/', no '.', '..' or "
	                  "empty segment, at most %d bytes",
	                  STORAGE_KEY_MAX);
}

ag_status ag_storage_open(ag_storage **out, const char *url, ag_err *err)
{
	static const char usage[] = "STORAGE_URL must be file:///path (an absolute directory)";
	if (!out)
		return ag_err_set(err, AG_E_INVAL, "storage open: out is required");
	*out = NULL;
	if (!url || !url[0])
		return ag_err_set(err, AG_E_INVAL, "%s; it is empty", usage);
	if (strncmp(url, "file://", 7) == 0) {
		char root[STORAGE_ROOT_MAX + 1];
		const char *path = url + 7;
		size_t len = strnlen(path, STORAGE_ROOT_MAX + 1);
		if (path[0] != '/')
			return ag_err_set(err, AG_E_INVAL, "%s: file://host/... is not supported", usage);
		if (len > STORAGE_ROOT_MAX)
			return ag_err_set(err, AG_E_INVAL, "%s of at most %d bytes", usage, STORAGE_ROOT_MAX);
		if (strpbrk(path, "?#"))
			return ag_err_set(err, AG_E_INVAL, "%s without query or fragment", usage);
		memcpy(root, path, len + 1);
		while (len > 1 && root[len - 1] == '/')
			root[--len] = '\0';
		if (strcmp(root, "/") == 0)
			return ag_err_set(err, AG_E_INVAL, "%s other than /", usage);
		return ag_storage_fs_open(out, root, err);
	}
	if (strncmp(url, "mem://", 6) == 0)
		return ag_storage_mem_open(out, err);
	if (strncmp(url, "s3://", 5) == 0)
		return ag_err_set(err, AG_E_UNSUPPORTED, "STORAGE_URL s3:// is not built yet; use file:///path");
	const char *colon = strchr(url, ':');
	int scheme_len = colon && colon - url < 16 ? (int)(colon - url) : 0;
	if (scheme_len > 0)
		return ag_err_set(err, AG_E_INVAL, "%s, not %.*s://…", usage, scheme_len, url);
	return ag_err_set(err, AG_E_INVAL, "%s", usage);
}

void ag_storage_free(ag_storage *s)
{
	if (s)
		s->ops->free(s);
}

bool ag_storage_ping(ag_storage *s)
{
	return s && s->ops->ping(s);
}

ag_status ag_storage_writer_new(ag_storage *s, const char *key, ag_storage_writer **out, ag_err *err)
{
	if (out)
		*out = NULL;
	if (!s || !out)
		return ag_err_set(err, AG_E_INVAL, "storage writer: storage and out are required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->writer_new(s, key, out, err);
}

ag_status ag_storage_write(ag_storage_writer *w, const void *data, size_t len, ag_err *err)
{
	if (!w || (!data && len > 0))
		return ag_err_set(err, AG_E_INVAL, "storage write: writer and data are required");
	if (len == 0)
		return AG_OK;
	return w->ops->write(w, data, len, err);
}

ag_status ag_storage_commit(ag_storage_writer *w, ag_err *err)
{
	if (!w)
		return ag_err_set(err, AG_E_INVAL, "storage commit: writer is required");
	return w->ops->commit(w, err);
}

void ag_storage_abort(ag_storage_writer *w)
{
	if (w)
		w->ops->abort(w);
}

ag_status ag_storage_read(ag_storage *s, const char *key, uint64_t offset, void *buf, size_t len, size_t *got,
                          ag_err *err)
{
	if (got)
		*got = 0;
	if (!s || !got || (!buf && len > 0))
		return ag_err_set(err, AG_E_INVAL, "storage read: storage, buffer and got are required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->read(s, key, offset, buf, len, got, err);
}

ag_status ag_storage_size(ag_storage *s, const char *key, uint64_t *size, ag_err *err)
{
	if (size)
		*size = 0;
	if (!s || !size)
		return ag_err_set(err, AG_E_INVAL, "storage size: storage and size are required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->size(s, key, size, err);
}

ag_status ag_storage_local_path(ag_storage *s, const char *key, char **path, ag_err *err)
{
	if (path)
		*path = NULL;
	if (!s || !path)
		return ag_err_set(err, AG_E_INVAL, "storage local path: storage and path are required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->local_path(s, key, path, err);
}

void ag_storage_local_done(ag_storage *s, char *path)
{
	if (s && path)
		s->ops->local_done(s, path);
	else
		free(path);
}

ag_status ag_storage_delete(ag_storage *s, const char *key, ag_err *err)
{
	if (!s)
		return ag_err_set(err, AG_E_INVAL, "storage delete: storage is required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->del(s, key, err);
}

ag_status ag_storage_writer_resume(ag_storage *s, const char *key, uint64_t offset, ag_storage_writer **out,
                                   ag_err *err)
{
	if (out)
		*out = NULL;
	if (!s || !out)
		return ag_err_set(err, AG_E_INVAL, "storage resume: storage and out are required");
	if (!ag_storage_key_valid(key))
		return storage_bad_key(err);
	return s->ops->resume(s, key, offset, out, err);
}

ag_status ag_storage_sync(ag_storage_writer *w, ag_err *err)
{
	if (!w)
		return ag_err_set(err, AG_E_INVAL, "storage sync: writer is required");
	return w->ops->sync(w, err);
}

ag_status ag_storage_rename(ag_storage *s, const char *from, const char *to, ag_err *err)
{
	if (!s)
		return ag_err_set(err, AG_E_INVAL, "storage rename: storage is required");
	if (!ag_storage_key_valid(from) || !ag_storage_key_valid(to))
		return storage_bad_key(err);
	return s->ops->rename(s, from, to, err);
}
