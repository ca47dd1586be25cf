/* Which container files the twin shows, and staging them from the agent into a local tree. */
#include "podfiles.h"
#include "mkpath.h"
#include "kube.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE_MAX_FILES 4096u
#define STAGE_MAX_BYTES (64u << 20)
#define READ_CHUNK	(1u << 20)
#define STAGE_DEPTH	16

void path_list_free(struct path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int path_list_add(struct path_list *l, const char *path)
{
	char **v;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], path) == 0)
			return 0;
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n] = strdup(path);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	l->v[l->n] = NULL;
	return 0;
}

static json_object *find_named(json_object *arr, const char *name)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		const char *nm = kj_str(e, "name");
		if (nm && (!name || !name[0] || strcmp(nm, name) == 0))
			return e;
	}
	return NULL;
}

int podfiles_default_paths(json_object *pod, const char *container, struct path_list *out)
{
	json_object *volumes = kj_get(pod, "spec.volumes");
	json_object *c = find_named(kj_get(pod, "spec.containers"), container);
	json_object *mounts = c ? kj_get(c, "volumeMounts") : NULL;
	size_t n = mounts ? json_object_array_length(mounts) : 0;
	static const char *const kinds[] = {"configMap", "secret", "projected", "downwardAPI"};

	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(mounts, i);
		json_object *v = find_named(volumes, kj_str(m, "name"));
		const char *path = kj_str(m, "mountPath");
		if (!v || !path)
			continue;
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (kj_get(v, kinds[k])) {
				int err = path_list_add(out, path);
				if (err)
					return err;
				break;
			}
		}
	}
	return 0;
}

static int file_request(struct bm_client *c, Bpfmirror__FileRequest__Op op, const char *path,
			uint64_t offset, Bpfmirror__Frame **reply)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__FileRequest q = BPFMIRROR__FILE_REQUEST__INIT;
	int err;

	q.op = op;
	q.path = (char *)path;
	q.offset = offset;
	q.length = READ_CHUNK;
	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REQUEST;
	f.file_request = &q;
	err = client_request(c, &f, 10000, reply);
	if (err)
		return err;
	if ((*reply)->body_case != BPFMIRROR__FRAME__BODY_FILE_REPLY) {
		wire_frame_free(*reply);
		*reply = NULL;
		return -EPROTO;
	}
	return 0;
}

static int stage_file(struct bm_client *c, const char *path, const char *dst, uint32_t mode,
		      struct stage_stats *st)
{
	Bpfmirror__Frame *r = NULL;
	uint64_t off = 0;
	int fd, err = 0;

	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode & 0777) | 0600);
	if (fd < 0)
		return -errno;
	for (;;) {
		const Bpfmirror__FileReply *fr;
		uint8_t *raw = NULL;
		const uint8_t *data;
		size_t len;
		err = file_request(c, BPFMIRROR__FILE_REQUEST__OP__OP_READ, path, off, &r);
		if (err)
			break;
		fr = r->file_reply;
		if (fr->errnum) {
			err = -fr->errnum;
			break;
		}
		data = fr->data.data;
		len = fr->data.len;
		if (fr->compressed) {
			err = wire_inflate(fr->data.data, fr->data.len, BPFMIRROR_INFLATE_MAX, &raw,
					   &len);
			if (err)
				break;
			data = raw;
		}
		if (st->bytes + len > STAGE_MAX_BYTES) {
			free(raw);
			err = -EFBIG;
			break;
		}
		for (size_t done = 0; !err && done < len;) {
			ssize_t w = write(fd, data + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				err = w < 0 ? -errno : -EIO;
			else
				done += (size_t)w;
		}
		free(raw);
		st->bytes += len;
		off += len;
		if (err || fr->eof || len == 0)
			break;
		wire_frame_free(r);
		r = NULL;
	}
	if (r)
		wire_frame_free(r);
	close(fd);
	if (!err)
		st->files++;
	return err;
}

static int stage_path(struct bm_client *c, const char *path, const char *dir, int depth,
		      struct stage_stats *st)
{
	Bpfmirror__Frame *r = NULL;
	char dst[PATH_MAX];
	uint32_t mode;
	int err;

	if (depth > STAGE_DEPTH || st->files >= STAGE_MAX_FILES)
		return 0;
	err = file_request(c, BPFMIRROR__FILE_REQUEST__OP__OP_STAT, path, 0, &r);
	if (err)
		return err;
	if (r->file_reply->errnum) {
		int e = r->file_reply->errnum;
		if (e == EACCES) {
			st->denied++;
			log_info("file %s: withheld by the cluster's policy", path);
		} else {
			st->missing++;
			log_debug("file %s: %s", path, strerror(e));
		}
		wire_frame_free(r);
		return 0;
	}
	mode = r->file_reply->stat ? r->file_reply->stat->mode : 0;
	wire_frame_free(r);
	r = NULL;
	snprintf(dst, sizeof(dst), "%s%s", dir, path);
	if (S_ISDIR(mode)) {
		err = mkpath(dst, true);
		if (err)
			return err;
		st->dirs++;
		err = file_request(c, BPFMIRROR__FILE_REQUEST__OP__OP_LIST, path, 0, &r);
		if (err)
			return err;
		for (size_t i = 0; !err && i < r->file_reply->n_entries; i++) {
			const char *name = r->file_reply->entries[i]->name;
			char sub[PATH_MAX];
			/* Kubernetes' atomic-writer internals ("..data", "..2024_..."). */
			if (strncmp(name, "..", 2) == 0 || strchr(name, '/'))
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", path,
				 path[strlen(path) - 1] == '/' ? "" : "/", name);
			err = stage_path(c, sub, dir, depth + 1, st);
		}
		wire_frame_free(r);
		return err;
	}
	if (!S_ISREG(mode))
		return 0;
	err = mkpath(dst, false);
	if (err)
		return err;
	err = stage_file(c, path, dst, mode, st);
	if (err == -EACCES) {
		st->denied++;
		return 0;
	}
	return err;
}

int podfiles_stage(struct bm_client *c, const struct path_list *paths, const char *dir,
		   struct stage_stats *st)
{
	int err = 0;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; !err && i < paths->n; i++) {
		if (paths->v[i][0] != '/') {
			log_warn("file path '%s' is not absolute: skipped", paths->v[i]);
			continue;
		}
		err = stage_path(c, paths->v[i], dir, 0, st);
	}
	return err;
}
