/* Session files: stat, read, list and write inside the container's root, under policy. */
#include "session_priv.h"
#include "fsconfine.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---- files -------------------------------------------------------------- */

static void stat_to_wire(const struct stat *st, Bpfmirror__FileStat *fs)
{
	fs->mode = st->st_mode;
	fs->size = (uint64_t)st->st_size;
	fs->uid = st->st_uid;
	fs->gid = st->st_gid;
	fs->mtime_sec = st->st_mtim.tv_sec;
	fs->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	fs->nlink = (uint32_t)st->st_nlink;
}

/* One file request's reply and the buffers it points into, freed once it is sent. */
struct file_reply {
	Bpfmirror__FileReply fr;
	struct stat st;
	Bpfmirror__DirEntry *ents, **entp;
	struct fsc_entry *list;
	size_t nlist;
	uint8_t *raw;
	char *data;
};

/* The policy judges the path asked for and the file it really is; PATH gets the latter. */
static int check_access(struct session *s, const Bpfmirror__FileRequest *q, char *path,
			size_t pathlen)
{
	int err = fsc_path_check(q->path, NULL);

	if (!err)
		err = fsc_canonical(s->root_fd, q->path, path, pathlen);
	if (!err && (!policy_path_allowed(s->ag->policy, q->path) ||
		     !policy_path_allowed(s->ag->policy, path)))
		err = -EACCES;
	if (!err && q->op == BPFMIRROR__FILE_REQUEST__OP__OP_WRITE && !s->ag->policy->files_write)
		err = -EPERM; /* writes into pods need the policy's files.allow_write */
	if (err == -EACCES)
		s->ag->ctr.file_denied++;
	return err;
}

/* Reads a slice of the file; sent deflated when that makes it smaller. */
static int file_read(struct session *s, const Bpfmirror__FileRequest *q, const char *path,
		     struct file_reply *rep)
{
	size_t len = 0;
	int err = fsc_read(s->root_fd, path, q->offset, (size_t)q->length, &rep->data, &len);

	if (!err)
		err = fsc_stat(s->root_fd, path, &rep->st);
	if (err)
		return err;
	rep->fr.eof = q->offset + len >= (uint64_t)rep->st.st_size;
	rep->fr.raw_len = (uint32_t)len;
	if (len > 256 && wire_deflate(rep->data, len, 6, &rep->raw, &rep->fr.data.len) == 0 &&
	    rep->fr.data.len < len) {
		rep->fr.data.data = rep->raw;
		rep->fr.compressed = true;
	} else {
		rep->fr.data.data = (uint8_t *)rep->data;
		rep->fr.data.len = len;
	}
	return 0;
}

static int file_list(struct session *s, const char *path, struct file_reply *rep)
{
	int err = fsc_list(s->root_fd, path, &rep->list, &rep->nlist);

	if (err)
		return err;
	rep->ents = calloc(rep->nlist + 1, sizeof(*rep->ents));
	rep->entp = calloc(rep->nlist + 1, sizeof(*rep->entp));
	if (!rep->ents || !rep->entp)
		return -ENOMEM;
	for (size_t i = 0; i < rep->nlist; i++) {
		bpfmirror__dir_entry__init(&rep->ents[i]);
		rep->ents[i].name = rep->list[i].name;
		rep->entp[i] = &rep->ents[i];
	}
	rep->fr.entries = rep->entp;
	rep->fr.n_entries = rep->nlist;
	return fsc_stat(s->root_fd, path, &rep->st);
}

static int file_write(struct session *s, const Bpfmirror__FileRequest *q, const char *path,
		      struct file_reply *rep)
{
	const uint8_t *wd = q->data.data;
	size_t wl = q->data.len;
	int err;

	if (q->compressed) {
		err =
		    wire_inflate(q->data.data, q->data.len, BPFMIRROR_INFLATE_MAX, &rep->raw, &wl);
		if (err)
			return err;
		wd = rep->raw;
	}
	err = fsc_write(s->root_fd, path, q->offset, wd, wl, 1);
	rep->fr.written = err ? 0 : wl;
	return err ? err : fsc_stat(s->root_fd, path, &rep->st);
}

static int run_file_op(struct session *s, const Bpfmirror__FileRequest *q, const char *path,
		       struct file_reply *rep)
{
	switch (q->op) {
	case BPFMIRROR__FILE_REQUEST__OP__OP_STAT:
		return fsc_stat(s->root_fd, path, &rep->st);
	case BPFMIRROR__FILE_REQUEST__OP__OP_READ:
		return file_read(s, q, path, rep);
	case BPFMIRROR__FILE_REQUEST__OP__OP_LIST:
		return file_list(s, path, rep);
	case BPFMIRROR__FILE_REQUEST__OP__OP_WRITE:
		return file_write(s, q, path, rep);
	default:
		return -EINVAL;
	}
}

int session_on_file(struct session *s, const Bpfmirror__Frame *f)
{
	const Bpfmirror__FileRequest *q = f->file_request;
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__FileStat fst = BPFMIRROR__FILE_STAT__INIT;
	struct file_reply rep = {.fr = BPFMIRROR__FILE_REPLY__INIT};
	char path[PATH_MAX];
	int err;

	s->ag->ctr.file_requests++;
	if (s->state != S_ATTACHED)
		return session_send_error(s, f->request_id,
					  BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
					  "file request before attach");
	err = check_access(s, q, path, sizeof(path));
	if (!err)
		err = run_file_op(s, q, path, &rep);
	if (!err) {
		stat_to_wire(&rep.st, &fst);
		rep.fr.stat = &fst;
	}
	rep.fr.errnum = -err;
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_FILE_REPLY;
	r.file_reply = &rep.fr;
	err = session_send_frame(s, &r);
	free(rep.ents);
	free(rep.entp);
	if (rep.list)
		fsc_entries_free(rep.list, rep.nlist);
	free(rep.data);
	free(rep.raw);
	return err;
}
