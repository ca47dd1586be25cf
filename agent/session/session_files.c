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

int session_on_file(struct session *s, const Bpfmirror__Frame *f)
{
	const Bpfmirror__FileRequest *q = f->file_request;
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__FileReply fr = BPFMIRROR__FILE_REPLY__INIT;
	Bpfmirror__FileStat fst = BPFMIRROR__FILE_STAT__INIT;
	Bpfmirror__DirEntry *ents = NULL, **entp = NULL;
	struct fsc_entry *list = NULL;
	size_t nlist = 0, len = 0;
	uint8_t *raw = NULL;
	char *data = NULL;
	char path[PATH_MAX];
	struct stat st;
	int err;

	s->ag->ctr.file_requests++;
	if (s->state != S_ATTACHED)
		return session_send_error(s, f->request_id,
					  BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
					  "file request before attach");
	/* The policy judges the path asked for and the file it really is. */
	err = fsc_path_check(q->path, NULL);
	if (!err)
		err = fsc_canonical(s->root_fd, q->path, path, sizeof(path));
	if (!err && (!policy_path_allowed(s->ag->policy, q->path) ||
		     !policy_path_allowed(s->ag->policy, path)))
		err = -EACCES;
	if (!err && q->op == BPFMIRROR__FILE_REQUEST__OP__OP_WRITE && !s->ag->policy->files_write)
		err = -EPERM; /* writes into pods need the policy's files.allow_write */
	if (err == -EACCES)
		s->ag->ctr.file_denied++;
	if (err)
		goto reply;
	switch (q->op) {
	case BPFMIRROR__FILE_REQUEST__OP__OP_STAT:
		err = fsc_stat(s->root_fd, path, &st);
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_READ:
		err = fsc_read(s->root_fd, path, q->offset, (size_t)q->length, &data, &len);
		if (!err)
			err = fsc_stat(s->root_fd, path, &st);
		if (!err) {
			fr.eof = q->offset + len >= (uint64_t)st.st_size;
			fr.raw_len = (uint32_t)len;
			if (len > 256 && wire_deflate(data, len, 6, &raw, &fr.data.len) == 0 &&
			    fr.data.len < len) {
				fr.data.data = raw;
				fr.compressed = true;
			} else {
				fr.data.data = (uint8_t *)data;
				fr.data.len = len;
			}
		}
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_LIST:
		err = fsc_list(s->root_fd, path, &list, &nlist);
		if (!err) {
			ents = calloc(nlist + 1, sizeof(*ents));
			entp = calloc(nlist + 1, sizeof(*entp));
			if (!ents || !entp) {
				err = -ENOMEM;
				break;
			}
			for (size_t i = 0; i < nlist; i++) {
				bpfmirror__dir_entry__init(&ents[i]);
				ents[i].name = list[i].name;
				entp[i] = &ents[i];
			}
			fr.entries = entp;
			fr.n_entries = nlist;
		}
		err = err ? err : fsc_stat(s->root_fd, path, &st);
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_WRITE: {
		const uint8_t *wd = q->data.data;
		size_t wl = q->data.len;
		if (q->compressed) {
			err = wire_inflate(q->data.data, q->data.len, BPFMIRROR_INFLATE_MAX, &raw,
					   &wl);
			if (err)
				break;
			wd = raw;
		}
		err = fsc_write(s->root_fd, path, q->offset, wd, wl, 1);
		fr.written = err ? 0 : wl;
		err = err ? err : fsc_stat(s->root_fd, path, &st);
		break;
	}
	default:
		err = -EINVAL;
	}
	if (!err) {
		stat_to_wire(&st, &fst);
		fr.stat = &fst;
	}
reply:
	fr.errnum = -err;
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_FILE_REPLY;
	r.file_reply = &fr;
	err = session_send_frame(s, &r);
	free(ents);
	free(entp);
	if (list)
		fsc_entries_free(list, nlist);
	free(data);
	free(raw);
	return err;
}
