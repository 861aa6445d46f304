/*
 * storage_fs.c - the file:///dir storage backend: one regular file per key
 * under a root directory (a local disk, a compose volume, an RWX PVC).
 *
 * A writer writes a `.tmp-` file made by mkostemp in the key's own directory,
 * so the final rename never crosses file systems; commit is fsync(file),
 * rename, fsync(directory), which makes the object appear whole or not at all
 * and keeps it across a crash. Directories made on the way are fsynced into
 * their parents for the same reason.
 *
 * A resumed writer (tus uploads) writes in place under its key instead: the
 * file is cut back to the offset the caller knows to be durable, appended
 * to, and fsynced on sync/commit; nothing is renamed or removed.
 */
#include "storage_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_PATH_MAX     PATH_MAX
#define FS_TMP_BASE_MAX 64 /* bytes of the key's last segment kept in a temporary file name */
#define FS_DIR_MODE     0750
#define FS_FILE_MODE    0640

static const struct ag_storage_ops fs_ops;

struct fs_storage {
	struct ag_storage base;
	size_t root_len;
	char root[]; /* absolute, no trailing '/' */
};

struct fs_writer {
	struct ag_storage_writer base;
	int fd;
	size_t root_len;
	size_t dir_len;          /* final[0..dir_len) is the directory of the object */
	char tmp[FS_PATH_MAX];   /* the temporary file, unlinked unless renamed */
	char final[FS_PATH_MAX]; /* root/key */
	bool in_place;           /* ag_storage_writer_resume: writes go straight to `final` */
};

static ag_status fs_errno(ag_err *err, int e, const char *what, const char *key)
{
	ag_status st = AG_E_IO;
	if (e == ENOENT)
		st = AG_E_NOTFOUND;
	else if (e == ENOTDIR || e == EISDIR || e == EEXIST)
		st = AG_E_CONFLICT; /* a file where a directory should be, or the reverse */
	else if (e == ENOMEM)
		st = AG_E_NOMEM;
	return ag_err_set(err, st, "storage %s %s: %s", what, key, strerror(e));
}

static ag_status fs_path(const struct fs_storage *fs, const char *key, char *buf, size_t cap, ag_err *err)
{
	int n = snprintf(buf, cap, "%s/%s", fs->root, key);
	if (n < 0 || (size_t)n >= cap)
		return ag_err_set(err, AG_E_INVAL, "storage key %s: path too long", key);
	return AG_OK;
}

/* fsync a directory so that entries made or removed in it survive a crash. */
static int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * mkdir -p for the components of `path` that end after byte `start` (path[0..start) exists already). Returns 0 or
 * -1 with errno set. `path` is modified while working and restored.
 */
static int fs_mkdirs(char *path, size_t start)
{
	size_t len = strlen(path);
	for (size_t i = start + 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		int rc = mkdir(path, FS_DIR_MODE);
		int e = errno;
		if (rc == 0) {
			/* a new entry in the parent: make it durable */
			char *slash = strrchr(path, '/');
			if (slash && slash != path) {
				*slash = '\0';
				rc = fs_fsync_dir(path);
				e = errno;
				*slash = '/';
			}
		} else if (e == EEXIST) {
			struct stat st;
			rc = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
			e = rc == 0 ? 0 : ENOTDIR;
		}
		path[i] = saved;
		if (rc != 0) {
			errno = e;
			return -1;
		}
	}
	return 0;
}

static void fs_free(ag_storage *s)
{
	free(s);
}

static bool fs_ping(ag_storage *s)
{
	const struct fs_storage *fs = (const struct fs_storage *)s;
	struct stat st;
	return stat(fs->root, &st) == 0 && S_ISDIR(st.st_mode) &&
	       faccessat(AT_FDCWD, fs->root, W_OK | X_OK, AT_EACCESS) == 0;
}

static int fs_mktemp(struct fs_writer *w, const char *base)
{
	snprintf(w->tmp, sizeof w->tmp, "%.*s/.tmp-%.*s-XXXXXX", (int)w->dir_len, w->final, FS_TMP_BASE_MAX, base);
	return mkostemp(w->tmp, O_CLOEXEC);
}

static ag_status fs_writer_new(ag_storage *s, const char *key, ag_storage_writer **out, ag_err *err)
{
	struct fs_storage *fs = (struct fs_storage *)s;
	ag_status st = AG_E_NOMEM;
	struct fs_writer *w = calloc(1, sizeof *w);
	if (!w) {
		ag_err_set(err, st, "storage writer: out of memory");
		goto out;
	}
	w->base.ops = &fs_ops;
	w->fd = -1;
	w->root_len = fs->root_len;
	st = fs_path(fs, key, w->final, sizeof w->final, err);
	if (st != AG_OK)
		goto out;
	const char *slash = strrchr(w->final, '/'); /* always present: root is absolute */
	w->dir_len = (size_t)(slash - w->final);
	w->fd = fs_mktemp(w, slash + 1);
	if (w->fd < 0 && errno == ENOENT && w->dir_len > w->root_len) {
		/* first object under this prefix: make its directories, then try again */
		char dir[FS_PATH_MAX];
		memcpy(dir, w->final, w->dir_len);
		dir[w->dir_len] = '\0';
		if (fs_mkdirs(dir, w->root_len) != 0) {
			st = fs_errno(err, errno, "mkdir for", key);
			goto out;
		}
		w->fd = fs_mktemp(w, slash + 1);
	}
	if (w->fd < 0) {
		st = fs_errno(err, errno, "create temporary file for", key);
		if (st == AG_E_NOTFOUND)
			st = ag_err_set(err, AG_E_IO, "storage directory %s is missing", fs->root);
		goto out;
	}
	if (fchmod(w->fd, FS_FILE_MODE) != 0) {
		st = fs_errno(err, errno, "chmod", key);
		goto out;
	}
	*out = &w->base;
	w = NULL;
	st = AG_OK;
out:
	if (w) {
		if (w->fd >= 0) {
			close(w->fd);
			unlink(w->tmp);
		}
		free(w);
	}
	return st;
}

static const char *fs_writer_key(const struct fs_writer *w)
{
	return w->final + w->root_len + 1;
}

static ag_status fs_write(ag_storage_writer *wb, const void *data, size_t len, ag_err *err)
{
	struct fs_writer *w = (struct fs_writer *)wb;
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fs_errno(err, errno, "write", fs_writer_key(w));
		}
		p += n;
		len -= (size_t)n;
	}
	return AG_OK;
}

static ag_status fs_commit(ag_storage_writer *wb, ag_err *err)
{
	struct fs_writer *w = (struct fs_writer *)wb;
	ag_status st = AG_OK;
	bool renamed = w->in_place; /* nothing to rename, and nothing to unlink on failure */
	const char *key = fs_writer_key(w);

	if (fsync(w->fd) != 0) {
		st = fs_errno(err, errno, "fsync", key);
		goto out;
	}
	int rc = close(w->fd);
	w->fd = -1;
	if (rc != 0) {
		st = fs_errno(err, errno, "close", key);
		goto out;
	}
	if (w->in_place)
		goto out;
	if (rename(w->tmp, w->final) != 0) {
		st = fs_errno(err, errno, "rename into", key);
		goto out;
	}
	renamed = true;
	w->final[w->dir_len] = '\0';
	if (fs_fsync_dir(w->final) != 0)
		st = fs_errno(err, errno, "fsync directory of", key);
out:
	if (w->fd >= 0)
		close(w->fd);
	if (!renamed)
		unlink(w->tmp);
	free(w);
	return st;
}

static void fs_abort(ag_storage_writer *wb)
{
	struct fs_writer *w = (struct fs_writer *)wb;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->in_place)
		unlink(w->tmp);
	free(w);
}

static ag_status fs_sync(ag_storage_writer *wb, ag_err *err)
{
	struct fs_writer *w = (struct fs_writer *)wb;
	if (w->in_place && fsync(w->fd) != 0)
		return fs_errno(err, errno, "fsync", fs_writer_key(w));
	return AG_OK;
}

/* Make the directories of `path` below the root (fs_mkdirs fsyncs new ones into their parents). */
static int fs_parent_dir(char *path, size_t root_len)
{
	char *slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) <= root_len)
		return 0;
	*slash = '\0';
	int rc = fs_mkdirs(path, root_len);
	int e = errno;
	*slash = '/';
	errno = e;
	return rc;
}

static ag_status fs_resume(ag_storage *s, const char *key, uint64_t offset, ag_storage_writer **out, ag_err *err)
{
	struct fs_storage *fs = (struct fs_storage *)s;
	ag_status st = AG_E_NOMEM;
	struct stat sb;
	bool created = false;
	struct fs_writer *w = calloc(1, sizeof *w);
	if (!w) {
		ag_err_set(err, st, "storage writer: out of memory");
		goto out;
	}
	w->base.ops = &fs_ops;
	w->fd = -1;
	w->in_place = true;
	w->root_len = fs->root_len;
	if ((st = fs_path(fs, key, w->final, sizeof w->final, err)) != AG_OK)
		goto out;
	w->dir_len = (size_t)(strrchr(w->final, '/') - w->final);
	if (offset == 0) {
		if (fs_parent_dir(w->final, w->root_len) != 0) {
			st = fs_errno(err, errno, "mkdir for", key);
			goto out;
		}
		w->fd = open(w->final, O_WRONLY | O_CREAT | O_CLOEXEC, FS_FILE_MODE);
		created = true;
	} else {
		w->fd = open(w->final, O_WRONLY | O_CLOEXEC);
	}
	if (w->fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		st = ag_err_set(err, AG_E_CONFLICT, "storage %s is gone; %llu bytes cannot be resumed after", key,
		                (unsigned long long)offset);
		goto out;
	}
	if (w->fd < 0) {
		st = fs_errno(err, errno, "open for resuming", key);
		goto out;
	}
	if (fstat(w->fd, &sb) != 0) {
		st = fs_errno(err, errno, "stat", key);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < offset) {
		st = ag_err_set(err, AG_E_CONFLICT, "storage %s holds %lld bytes, fewer than the %llu to resume after",
		                key, (long long)sb.st_size, (unsigned long long)offset);
		goto out;
	}
	/* bytes past the durable offset were never acknowledged: drop them */
	if ((uint64_t)sb.st_size != offset && ftruncate(w->fd, (off_t)offset) != 0) {
		st = fs_errno(err, errno, "truncate", key);
		goto out;
	}
	if (lseek(w->fd, (off_t)offset, SEEK_SET) < 0) {
		st = fs_errno(err, errno, "seek", key);
		goto out;
	}
	if (created) {
		w->final[w->dir_len] = '\0';
		int rc = fs_fsync_dir(w->final);
		w->final[w->dir_len] = '/';
		if (rc != 0) {
			st = fs_errno(err, errno, "fsync directory of", key);
			goto out;
		}
	}
	*out = &w->base;
	w = NULL;
	st = AG_OK;
out:
	if (w) {
		if (w->fd >= 0)
			close(w->fd);
		free(w);
	}
	return st;
}

static ag_status fs_rename(ag_storage *s, const char *from, const char *to, ag_err *err)
{
	const struct fs_storage *fs = (const struct fs_storage *)s;
	char src[FS_PATH_MAX], dst[FS_PATH_MAX];
	ag_status st;
	if ((st = fs_path(fs, from, src, sizeof src, err)) != AG_OK ||
	    (st = fs_path(fs, to, dst, sizeof dst, err)) != AG_OK)
		return st;
	if (fs_parent_dir(dst, fs->root_len) != 0)
		return fs_errno(err, errno, "mkdir for", to);
	if (rename(src, dst) != 0)
		return fs_errno(err, errno, "rename to", to);
	*strrchr(dst, '/') = '\0';
	*strrchr(src, '/') = '\0';
	if (fs_fsync_dir(dst) != 0 || (strcmp(src, dst) != 0 && fs_fsync_dir(src) != 0))
		return fs_errno(err, errno, "fsync directory of", to);
	return AG_OK;
}

/* Open a key for reading: AG_E_NOTFOUND for a missing key, a directory, or a file where a directory should be. */
static ag_status fs_open_object(const struct fs_storage *fs, const char *key, int *fd, struct stat *st, ag_err *err)
{
	char path[FS_PATH_MAX];
	*fd = -1;
	ag_status s = fs_path(fs, key, path, sizeof path, err);
	if (s != AG_OK)
		return s;
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s", key);
		return fs_errno(err, errno, "open", key);
	}
	if (fstat(f, st) != 0) {
		s = fs_errno(err, errno, "stat", key);
		close(f);
		return s;
	}
	if (!S_ISREG(st->st_mode)) {
		close(f);
		return ag_err_set(err, AG_E_NOTFOUND, "storage: no object %s (not a regular file)", key);
	}
	*fd = f;
	return AG_OK;
}

static ag_status fs_read(ag_storage *s, const char *key, uint64_t offset, void *buf, size_t len, size_t *got,
                         ag_err *err)
{
	int fd;
	struct stat st;
	ag_status rc = fs_open_object((const struct fs_storage *)s, key, &fd, &st, err);
	if (rc != AG_OK)
		return rc;
	/* fill the buffer unless the object ends: a short count means end of object */
	size_t n = 0;
	if (offset >= (uint64_t)st.st_size)
		len = 0;
	while (n < len) {
		ssize_t r = pread(fd, (char *)buf + n, len - n, (off_t)(offset + n));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = fs_errno(err, errno, "read", key);
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc == AG_OK)
		*got = n;
	return rc;
}

static ag_status fs_size(ag_storage *s, const char *key, uint64_t *size, ag_err *err)
{
	int fd;
	struct stat st;
	ag_status rc = fs_open_object((const struct fs_storage *)s, key, &fd, &st, err);
	if (rc != AG_OK)
		return rc;
	close(fd);
	*size = (uint64_t)st.st_size;
	return AG_OK;
}

static ag_status fs_local_path(ag_storage *s, const char *key, char **path, ag_err *err)
{
	int fd;
	struct stat st;
	ag_status rc = fs_open_object((const struct fs_storage *)s, key, &fd, &st, err);
	if (rc != AG_OK)
		return rc;
	close(fd);
	char full[FS_PATH_MAX];
	fs_path((const struct fs_storage *)s, key, full, sizeof full, NULL);
	*path = realpath(full, NULL);
	if (!*path)
		return fs_errno(err, errno, "resolve path of", key);
	return AG_OK;
}

static void fs_local_done(ag_storage *s, char *path)
{
	free(path);
} /* the real file: nothing to remove */

static ag_status fs_delete(ag_storage *s, const char *key, ag_err *err)
{
	const struct fs_storage *fs = (const struct fs_storage *)s;
	char path[FS_PATH_MAX];
	ag_status rc = fs_path(fs, key, path, sizeof path, err);
	if (rc != AG_OK)
		return rc;
	if (unlink(path) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return AG_OK;
		return fs_errno(err, errno, "delete", key);
	}
	*strrchr(path, '/') = '\0';
	if (fs_fsync_dir(path) != 0)
		return fs_errno(err, errno, "fsync directory of", key);
	return AG_OK;
}

static const struct ag_storage_ops fs_ops = {
        .scheme = "file",
        .free = fs_free,
        .ping = fs_ping,
        .writer_new = fs_writer_new,
        .write = fs_write,
        .commit = fs_commit,
        .abort = fs_abort,
        .read = fs_read,
        .size = fs_size,
        .local_path = fs_local_path,
        .local_done = fs_local_done,
        .del = fs_delete,
        .resume = fs_resume,
        .sync = fs_sync,
        .rename = fs_rename,
};

ag_status ag_storage_fs_open(ag_storage **out, const char *root, ag_err *err)
{
	size_t len = strlen(root);
	struct fs_storage *fs = malloc(sizeof *fs + len + 1);
	if (!fs)
		return ag_err_set(err, AG_E_NOMEM, "storage: out of memory");
	fs->base.ops = &fs_ops;
	fs->root_len = len;
	memcpy(fs->root, root, len + 1);
	if (fs_mkdirs(fs->root, 0) != 0) {
		int e = errno;
		free(fs);
		return ag_err_set(err, e == ENOTDIR ? AG_E_INVAL : AG_E_IO, "storage directory %s: cannot create: %s",
		                  root, strerror(e));
	}
	*out = &fs->base;
	return AG_OK;
}
