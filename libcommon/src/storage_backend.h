/*
 * storage_backend.h - private to libcommon: the const vtable a storage
 * backend fills in and storage.c dispatches through. Each backend embeds
 * struct ag_storage / struct ag_storage_writer as its first member.
 *
 * storage.c has already checked the key (ag_storage_key_valid) and every
 * pointer argument before a backend function is called.
 */
#ifndef AEGIS_STORAGE_BACKEND_H
#define AEGIS_STORAGE_BACKEND_H

#include "aegis/storage.h"

struct ag_storage_ops {
	const char *scheme; /* "file", "mem" */
	void (*free)(ag_storage *s);
	bool (*ping)(ag_storage *s);
	ag_status (*writer_new)(ag_storage *s, const char *key, ag_storage_writer **out, ag_err *err);
	ag_status (*write)(ag_storage_writer *w, const void *data, size_t len, ag_err *err);
	ag_status (*commit)(ag_storage_writer *w, ag_err *err); /* frees w */
	void (*abort)(ag_storage_writer *w);                    /* frees w */
	ag_status (*read)(ag_storage *s, const char *key, uint64_t offset, void *buf, size_t len, size_t *got,
	                  ag_err *err);
	ag_status (*size)(ag_storage *s, const char *key, uint64_t *size, ag_err *err);
	ag_status (*local_path)(ag_storage *s, const char *key, char **path, ag_err *err);
	void (*local_done)(ag_storage *s, char *path); /* frees path */
	ag_status (*del)(ag_storage *s, const char *key, ag_err *err);
	ag_status (*resume)(ag_storage *s, const char *key, uint64_t offset, ag_storage_writer **out, ag_err *err);
	ag_status (*sync)(ag_storage_writer *w, ag_err *err);
	ag_status (*rename)(ag_storage *s, const char *from, const char *to, ag_err *err);
};

struct ag_storage {
	const struct ag_storage_ops *ops;
};

struct ag_storage_writer {
	const struct ag_storage_ops *ops;
};

/* "file:///dir" -> `root` is "/dir" (absolute, no trailing '/'); made with mkdir -p. */
ag_status ag_storage_fs_open(ag_storage **out, const char *root, ag_err *err);
/* "mem://": an empty, independent in-memory store. */
ag_status ag_storage_mem_open(ag_storage **out, ag_err *err);

#endif
