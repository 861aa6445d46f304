/*
 * storage_mem.c - the mem:// storage backend for unit tests: objects in a
 * mutex-protected array, with the same contract as file:// (a writer's bytes
 * appear under the key only at commit; abort leaves nothing). Every
 * ag_storage_open("mem://") is an independent, empty store.
 */
#include "storage_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEM_MAX_OBJECTS      4096
#define MEM_MAX_OBJECT_BYTES (64 * 1024 * 1024)
#define MEM_TMP_TEMPLATE     "/tmp/aegis-mem-XXXXXX" /* local_path copies */

static const struct ag_storage_ops mem_ops;

struct mem_object {
	char *key;
	unsigned char *data;
	size_t len;
};

struct mem_storage {
	struct ag_storage base;
	pthread_mutex_t mu;
	struct mem_object *objs;
	size_t n, cap;
};

struct mem_writer {
	struct ag_storage_writer base;
	struct mem_storage *m;
	char *key;
	unsigned char *buf;
	size_t len, cap;
	bool in_place; /* ag_storage_writer_resume: sync stores a copy of the bytes so far */
};

/* Index of key, or -1. Call with mu held. */
static long mem_find(const struct mem_storage *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->objs[i].key, key) == 0)
			return (long)i;
	}
	return -1;
}

static void mem_free(ag_storage *s)
{
	struct mem_storage *m = (struct mem_storage *)s;
	for (size_t i = 0; i < m->n; i++) {
		free(m->objs[i].key);
		free(m->objs[i].data);
	}
	free(m->objs);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static bool mem_ping(ag_storage *s)
{
	return true;
}

static ag_status mem_writer_new(ag_storage *s, const char *key, ag_storage_writer **out, ag_err *err)
{
	struct mem_writer *w = calloc(1, sizeof *w);
	char *k = strdup(key);
	if (!w || !k) {
		free(w);
		free(k);
		return ag_err_set(err, AG_E_NOMEM, "storage writer: out of memory");
	}
	w->base.ops = &mem_ops;
	w->m = (struct mem_storage *)s;
	w->key = k;
	*out = &w->base;
	return AG_OK;
}

static ag_status mem_write(ag_storage_writer *wb, const void *data, size_t len, ag_err *err)
{
	struct mem_writer *w = (struct mem_writer *)wb;
	if (len > MEM_MAX_OBJECT_BYTES - w->len)
		return ag_err_set(err, AG_E_TOOBIG, "storage mem: object %s over %d bytes", w->key,
		                  MEM_MAX_OBJECT_BYTES);
	if (w->len + len > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + len)
			cap *= 2;
		if (cap > MEM_MAX_OBJECT_BYTES)
			cap = MEM_MAX_OBJECT_BYTES;
		unsigned char *b = realloc(w->buf, cap);
		if (!b)
			return ag_err_set(err, AG_E_NOMEM, "storage mem: out of memory");
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	return AG_OK;
}

static void mem_writer_free(struct mem_writer *w)
{
	free(w->key);
	free(w->buf);
	free(w);
}

static ag_status mem_commit(ag_storage_writer *wb, ag_err *err)
{
	struct mem_writer *w = (struct mem_writer *)wb;
	struct mem_storage *m = w->m;
	ag_status st = AG_OK;
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, w->key);
	if (i >= 0) {
		free(m->objs[i].data);
	} else if (m->n == MEM_MAX_OBJECTS) {
		st = ag_err_set(err, AG_E_TOOBIG, "storage mem: more than %d objects", MEM_MAX_OBJECTS);
		goto out;
	} else {
		if (m->n == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 16;
			struct mem_object *o = realloc(m->objs, cap * sizeof *o);
			if (!o) {
				st = ag_err_set(err, AG_E_NOMEM, "storage mem: out of memory");
				goto out;
			}
			m->objs = o;
			m->cap = cap;
		}
		i = (long)m->n++;
		m->objs[i].key = w->key;
		w->key = NULL;
	}
	m->objs[i].data = w->buf; /* ownership moves to the store */
	m->objs[i].len = w->len;
	w->buf = NULL;
out:
	pthread_mutex_unlock(&m->mu);
	mem_writer_free(w);
	return st;
}

static void mem_abort(ag_storage_writer *wb)
{
	mem_writer_free((struct mem_writer *)wb);
}

static ag_status mem_read(ag_storage *s, const char *key, uint64_t offset, void *buf, size_t len, size_t *got,
                          ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	ag_status st = AG_OK;
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, key);
	if (i < 0) {
		st = ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s", key);
	} else if (offset < m->objs[i].len) {
		size_t avail = m->objs[i].len - (size_t)offset;
		*got = len < avail ? len : avail;
		memcpy(buf, m->objs[i].data + offset, *got);
	}
	pthread_mutex_unlock(&m->mu);
	return st;
}

static ag_status mem_size(ag_storage *s, const char *key, uint64_t *size, ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	ag_status st = AG_OK;
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, key);
	if (i < 0)
		st = ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s", key);
	else
		*size = m->objs[i].len;
	pthread_mutex_unlock(&m->mu);
	return st;
}

/* Libraries that want a path get a temporary copy, removed by mem_local_done. */
static ag_status mem_local_path(ag_storage *s, const char *key, char **path, ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	ag_status st = AG_OK;
	char *tmp = strdup(MEM_TMP_TEMPLATE);
	if (!tmp)
		return ag_err_set(err, AG_E_NOMEM, "storage mem: out of memory");
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		st = ag_err_set(err, AG_E_IO, "storage mem: temporary copy: %s", strerror(errno));
		free(tmp);
		return st;
	}
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, key);
	if (i < 0) {
		st = ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s", key);
	} else {
		const unsigned char *p = m->objs[i].data;
		size_t left = m->objs[i].len;
		while (left > 0) {
			ssize_t n = write(fd, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				st = ag_err_set(err, AG_E_IO, "storage mem: temporary copy: %s", strerror(errno));
				break;
			}
			p += n;
			left -= (size_t)n;
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (close(fd) != 0 && st == AG_OK)
		st = ag_err_set(err, AG_E_IO, "storage mem: temporary copy: %s", strerror(errno));
	if (st != AG_OK) {
		unlink(tmp);
		free(tmp);
		return st;
	}
	*path = tmp;
	return AG_OK;
}

static void mem_local_done(ag_storage *s, char *path)
{
	unlink(path);
	free(path);
}

static ag_status mem_delete(ag_storage *s, const char *key, ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, key);
	if (i >= 0) {
		free(m->objs[i].key);
		free(m->objs[i].data);
		m->objs[i] = m->objs[--m->n];
	}
	pthread_mutex_unlock(&m->mu);
	return AG_OK;
}

static ag_status mem_resume(ag_storage *s, const char *key, uint64_t offset, ag_storage_writer **out, ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	ag_storage_writer *wb = NULL;
	ag_status st = mem_writer_new(s, key, &wb, err);
	if (st != AG_OK)
		return st;
	struct mem_writer *w = (struct mem_writer *)wb;
	w->in_place = true;
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, key);
	size_t have = i >= 0 ? m->objs[i].len : 0;
	if (offset > have)
		st = ag_err_set(err, AG_E_CONFLICT, "storage %s holds %zu bytes, fewer than the %llu to resume after",
		                key, have, (unsigned long long)offset);
	else if (offset > 0)
		st = mem_write(wb, m->objs[i].data, (size_t)offset, err);
	pthread_mutex_unlock(&m->mu);
	if (st != AG_OK) {
		mem_writer_free(w);
		return st;
	}
	*out = wb;
	return AG_OK;
}

/* In-place writers: store a copy of the bytes so far under the key (what survives an abort). */
static ag_status mem_sync(ag_storage_writer *wb, ag_err *err)
{
	struct mem_writer *w = (struct mem_writer *)wb;
	if (!w->in_place)
		return AG_OK;
	ag_storage_writer *copy = NULL;
	ag_status st = mem_writer_new(&w->m->base, w->key, &copy, err);
	if (st == AG_OK && w->len > 0)
		st = mem_write(copy, w->buf, w->len, err);
	if (st == AG_OK)
		return mem_commit(copy, err);
	if (copy)
		mem_abort(copy);
	return st;
}

static ag_status mem_rename(ag_storage *s, const char *from, const char *to, ag_err *err)
{
	struct mem_storage *m = (struct mem_storage *)s;
	ag_status st = AG_OK;
	char *k = strdup(to);
	if (!k)
		return ag_err_set(err, AG_E_NOMEM, "storage mem: out of memory");
	pthread_mutex_lock(&m->mu);
	long i = mem_find(m, from);
	if (i < 0) {
		st = ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s", from);
	} else if (strcmp(from, to) != 0) {
		long j = mem_find(m, to);
		if (j >= 0) {
			free(m->objs[j].key);
			free(m->objs[j].data);
			m->objs[j] = m->objs[--m->n];
			if ((size_t)i == m->n)
				i = j; /* the moved entry was `from` */
		}
		free(m->objs[i].key);
		m->objs[i].key = k;
		k = NULL;
	}
	pthread_mutex_unlock(&m->mu);
	free(k);
	return st;
}

static const struct ag_storage_ops mem_ops = {
        .scheme = "mem",
        .free = mem_free,
        .ping = mem_ping,
        .writer_new = mem_writer_new,
        .write = mem_write,
        .commit = mem_commit,
        .abort = mem_abort,
        .read = mem_read,
        .size = mem_size,
        .local_path = mem_local_path,
        .local_done = mem_local_done,
        .del = mem_delete,
        .resume = mem_resume,
        .sync = mem_sync,
        .rename = mem_rename,
};

ag_status ag_storage_mem_open(ag_storage **out, ag_err *err)
{
	struct mem_storage *m = calloc(1, sizeof *m);
	if (!m)
		return ag_err_set(err, AG_E_NOMEM, "storage: out of memory");
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return ag_err_set(err, AG_E_NOMEM, "storage: cannot create a mutex");
	}
	m->base.ops = &mem_ops;
	*out = &m->base;
	return AG_OK;
}
