// A measuring prototype, not rdrive's binding: libfuse 3's low-level API bound to Node through
// N-API, serving bench/null-lowlevel.ts, to show what a binding change would buy against
// fuse-native (libfuse 2, high-level API). The differences measured:
//  - READDIRPLUS: a listing carries each entry's attributes, so `ls -l` and `find` need no
//    LOOKUP per entry (libfuse 2's high-level API cannot offer it);
//  - one thread hop per request: the session thread queues the request to the event loop and
//    goes on reading /dev/fuse; JS replies whenever it is ready (fuse_reply_* may be called from
//    any thread), where fuse-native parks a FUSE thread on a semaphore until JS answers.
// Only what a null filesystem needs is bound (lookup, attributes, listing, create, read, write). Build: scripts/build-lowlevel.sh.
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

enum { OP_LOOKUP, OP_GETATTR, OP_READDIRPLUS, OP_OPEN, OP_READ, OP_RELEASE, OP_OPENDIR, OP_RELEASEDIR, OP_FORGET, OP_READDIR,
       OP_CREATE, OP_WRITE, OP_SETATTR, OP_UNLINK, OP_FLUSH };

typedef struct {
  int op;
  fuse_req_t req;
  fuse_ino_t ino;
  size_t size;
  off_t off;
  char name[256];
  /** OP_WRITE: a copy of the data (libfuse reuses its buffer once the handler returns). */
  char *data;
} request_t;

static napi_threadsafe_function tsfn;
static struct fuse_session *se;
static pthread_t loop_thread;

static void post(int op, fuse_req_t req, fuse_ino_t ino, const char *name, size_t size, off_t off) {
  request_t *r = malloc(sizeof(request_t));
  r->op = op; r->req = req; r->ino = ino; r->size = size; r->off = off;
  if (name) { strncpy(r->name, name, 255); r->name[255] = 0; } else r->name[0] = 0;
  r->data = NULL;
  napi_call_threadsafe_function(tsfn, r, napi_tsfn_nonblocking);
}

static void post_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off) {
  request_t *r = malloc(sizeof(request_t));
  r->op = OP_WRITE; r->req = req; r->ino = ino; r->size = size; r->off = off; r->name[0] = 0;
  r->data = malloc(size ? size : 1);
  memcpy(r->data, buf, size);
  napi_call_threadsafe_function(tsfn, r, napi_tsfn_nonblocking);
}

static void ll_init(void *ud, struct fuse_conn_info *conn) {
  (void)ud;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // 1 MiB requests (the kernel's max_pages): libfuse 2 is held to 128 KiB.
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
}
static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) { post(OP_LOOKUP, req, parent, name, 0, 0); }
static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) { (void)ino; (void)n; fuse_reply_none(req); }
static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_GETATTR, req, ino, NULL, 0, 0); }
static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post(OP_READDIRPLUS, req, ino, NULL, size, off); }
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post(OP_READDIR, req, ino, NULL, size, off); }
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_OPEN, req, ino, NULL, 0, 0); }
static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_OPENDIR, req, ino, NULL, 0, 0); }
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post(OP_READ, req, ino, NULL, size, off); }
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_RELEASE, req, ino, NULL, 0, 0); }
static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_RELEASEDIR, req, ino, NULL, 0, 0); }

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) { (void)fi; post(OP_CREATE, req, parent, name, mode, 0); }
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post_write(req, ino, buf, size, off); }
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void)fi;
  post(OP_SETATTR, req, ino, NULL, (to_set & FUSE_SET_ATTR_SIZE) ? 1 : 0, attr->st_size);
}
static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { post(OP_UNLINK, req, parent, name, 0, 0); }
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(OP_FLUSH, req, ino, NULL, 0, 0); }
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) { (void)datasync; (void)fi; post(OP_FLUSH, req, ino, NULL, 0, 0); }

static const struct fuse_lowlevel_ops ops = {
  .init = ll_init, .lookup = ll_lookup, .forget = ll_forget, .getattr = ll_getattr,
  .readdirplus = ll_readdirplus, .readdir = ll_readdir, .open = ll_open, .opendir = ll_opendir, .read = ll_read,
  .release = ll_release, .releasedir = ll_releasedir, .create = ll_create, .write = ll_write,
  .setattr = ll_setattr, .unlink = ll_unlink, .flush = ll_flush, .fsync = ll_fsync,
};

static void free_data(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)ctx;
  request_t *r = data;
  napi_value argv[7], undef;
  napi_create_int32(env, r->op, &argv[0]);
  napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)r->req, &argv[1]);
  napi_create_double(env, (double)r->ino, &argv[2]);
  napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &argv[3]);
  napi_create_double(env, (double)r->size, &argv[4]);
  napi_create_double(env, (double)r->off, &argv[5]);
  if (r->data != NULL) napi_create_external_buffer(env, r->size, r->data, free_data, NULL, &argv[6]);
  else napi_get_undefined(env, &argv[6]);
  napi_get_undefined(env, &undef);
  free(r);
  napi_call_function(env, undef, cb, 7, argv, NULL);
}

static fuse_req_t req_arg(napi_env env, napi_value v) {
  uint64_t x; bool lossless;
  napi_get_value_bigint_uint64(env, v, &x, &lossless);
  return (fuse_req_t)(uintptr_t)x;
}
static double num(napi_env env, napi_value v) { double d = 0; napi_get_value_double(env, v, &d); return d; }

static void fill_stat(napi_env env, napi_value *a, struct stat *st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = (ino_t)num(env, a[0]);
  st->st_mode = (mode_t)num(env, a[1]);
  st->st_size = (off_t)num(env, a[2]);
  st->st_nlink = (nlink_t)num(env, a[3]);
  st->st_mtime = st->st_atime = st->st_ctime = (time_t)num(env, a[4]);
  st->st_uid = getuid(); st->st_gid = getgid();
  st->st_blocks = (st->st_size + 511) / 512;
}

#define ARGS(n) size_t argc = n; napi_value a[n]; napi_get_cb_info(env, info, &argc, a, NULL, NULL);

// replyEntry(req, ino, mode, size, nlink, mtime, timeout)
static napi_value reply_entry(napi_env env, napi_callback_info info) {
  ARGS(7);
  struct fuse_entry_param e; memset(&e, 0, sizeof(e));
  fill_stat(env, a + 1, &e.attr);
  e.ino = e.attr.st_ino; e.attr_timeout = e.entry_timeout = num(env, a[6]);
  fuse_reply_entry(req_arg(env, a[0]), &e);
  return NULL;
}
// replyAttr(req, ino, mode, size, nlink, mtime, timeout)
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  ARGS(7);
  struct stat st; fill_stat(env, a + 1, &st);
  fuse_reply_attr(req_arg(env, a[0]), &st, num(env, a[6]));
  return NULL;
}
// replyCreate(req, ino, mode, size, nlink, mtime, timeout, fh)
static napi_value reply_create(napi_env env, napi_callback_info info) {
  ARGS(8);
  struct fuse_entry_param e; memset(&e, 0, sizeof(e));
  fill_stat(env, a + 1, &e.attr);
  e.ino = e.attr.st_ino; e.attr_timeout = e.entry_timeout = num(env, a[6]);
  struct fuse_file_info fi; memset(&fi, 0, sizeof(fi));
  fi.fh = (uint64_t)num(env, a[7]);
  fuse_reply_create(req_arg(env, a[0]), &e, &fi);
  return NULL;
}
// replyWrite(req, count)
static napi_value reply_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_reply_write(req_arg(env, a[0]), (size_t)num(env, a[1]));
  return NULL;
}
static napi_value reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_reply_err(req_arg(env, a[0]), (int)num(env, a[1]));
  return NULL;
}
// replyOpen(req, fh, keepCache)
static napi_value reply_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct fuse_file_info fi; memset(&fi, 0, sizeof(fi));
  fi.fh = (uint64_t)num(env, a[1]); fi.keep_cache = num(env, a[2]) != 0;
  fuse_reply_open(req_arg(env, a[0]), &fi);
  return NULL;
}
// replyBuf(req, buffer, length)
static napi_value reply_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data; size_t len;
  napi_get_buffer_info(env, a[1], &data, &len);
  size_t n = (size_t)num(env, a[2]);
  fuse_reply_buf(req_arg(env, a[0]), data, n < len ? n : len);
  return NULL;
}
// replyDir(req, size, plus, firstOff, names[], attrs Float64Array [ino,mode,size,nlink,mtime]*, timeout)
static napi_value reply_dir(napi_env env, napi_callback_info info) {
  ARGS(7);
  fuse_req_t req = req_arg(env, a[0]);
  size_t size = (size_t)num(env, a[1]);
  int plus = num(env, a[2]) != 0;
  off_t off = (off_t)num(env, a[3]);
  double timeout = num(env, a[6]);
  uint32_t count; napi_get_array_length(env, a[4], &count);
  double *attrs; size_t alen; napi_typedarray_type t; napi_value ab; size_t boff;
  napi_get_typedarray_info(env, a[5], &t, &alen, (void **)&attrs, &ab, &boff);
  char *buf = malloc(size); size_t used = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value nv; napi_get_element(env, a[4], i, &nv);
    char name[256]; size_t nl; napi_get_value_string_utf8(env, nv, name, sizeof(name), &nl);
    struct fuse_entry_param e; memset(&e, 0, sizeof(e));
    double *x = attrs + i * 5;
    e.attr.st_ino = (ino_t)x[0]; e.attr.st_mode = (mode_t)x[1]; e.attr.st_size = (off_t)x[2];
    e.attr.st_nlink = (nlink_t)x[3]; e.attr.st_mtime = e.attr.st_atime = e.attr.st_ctime = (time_t)x[4];
    e.attr.st_uid = getuid(); e.attr.st_gid = getgid();
    e.ino = e.attr.st_ino; e.attr_timeout = e.entry_timeout = timeout;
    size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off + i + 1)
                       : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, off + i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return NULL;
}

// Runs until unmount() (or an unmount from outside) ends the session; the unmount is not repeated here.
static void *loop_main(void *arg) {
  (void)arg;
  fuse_session_loop(se);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

// mount(mountpoint, optionString, handler)
static napi_value mount_fs(napi_env env, napi_callback_info info) {
  ARGS(3);
  char mnt[1024], opts[2048]; size_t l;
  napi_get_value_string_utf8(env, a[0], mnt, sizeof(mnt), &l);
  napi_get_value_string_utf8(env, a[1], opts, sizeof(opts), &l);
  napi_value name; napi_create_string_utf8(env, "fuse-ll", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, a[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &tsfn);
  char *argv[] = { "fuse-ll", "-o", opts, NULL };
  struct fuse_args args = FUSE_ARGS_INIT(3, argv);
  se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
  napi_value ok; napi_get_boolean(env, se != NULL && fuse_session_mount(se, mnt) == 0, &ok);
  pthread_create(&loop_thread, NULL, loop_main, NULL);
  return ok;
}

static napi_value exit_fs(napi_env env, napi_callback_info info) {
  (void)env; (void)info;
  fuse_session_exit(se);
  fuse_session_unmount(se);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor d[] = {
    { "mount", 0, mount_fs, 0, 0, 0, napi_default, 0 },
    { "unmount", 0, exit_fs, 0, 0, 0, napi_default, 0 },
    { "replyEntry", 0, reply_entry, 0, 0, 0, napi_default, 0 },
    { "replyAttr", 0, reply_attr, 0, 0, 0, napi_default, 0 },
    { "replyErr", 0, reply_err, 0, 0, 0, napi_default, 0 },
    { "replyOpen", 0, reply_open, 0, 0, 0, napi_default, 0 },
    { "replyBuf", 0, reply_buf, 0, 0, 0, napi_default, 0 },
    { "replyDir", 0, reply_dir, 0, 0, 0, napi_default, 0 },
    { "replyCreate", 0, reply_create, 0, 0, 0, napi_default, 0 },
    { "replyWrite", 0, reply_write, 0, 0, 0, napi_default, 0 },
  };
  napi_define_properties(env, exports, sizeof(d) / sizeof(d[0]), d);
  return exports;
}
