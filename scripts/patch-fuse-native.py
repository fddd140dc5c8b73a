"""Patches fuse-native 2.2.6's C source so that utimens carries the real mtime.

1. It passed atime in both slots (mtime was lost).
2. libfuse 2.9 drops a setattr that changes only one of the times (touch -m, tar x, rsync's
   directory times) unless the filesystem sets flag_utime_omit_ok; then it passes UTIME_OMIT
   and UTIME_NOW, which we encode for JavaScript: now as the current time, omit as OMIT_MS.
3. The caller of each operation (fuse_get_context's uid/gid, thread-local to libfuse's thread)
   is kept with the request and exposed while JavaScript handles it, as
   binding.fuse_native_caller() -> [uid, gid]: a new file belongs to whoever created it.
4. Times before 1970 cross in both directions (see the step below).
5. The caller's pid too: fuse_native_caller() -> [uid, gid, pid].
6. The request record of a libfuse thread that ends is reused by the next thread started,
   instead of a new one each time (see the step below).
Idempotent: prints 'patched' when it changed the file.
"""
import sys

path = sys.argv[1]
src = open(path).read()
orig = src
src = src.replace("FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)", "FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)")
helper = """
/* rdrive: UTIME_NOW becomes the current time, UTIME_OMIT the sentinel 2^48-1 ms. */
static uint64_t utimens_time_to_uint64 (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 281474976710655ULL;
  if (ts->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return timespec_to_uint64(&now);
  }
  return timespec_to_uint64(ts);
}
"""
if "utimens_time_to_uint64" not in src:
    anchor = "static uint64_t timespec_to_uint64 (const struct timespec* ts) {"
    start = src.index(anchor)
    end = src.index("}\n", start) + 2
    src = src[:end] + helper + src[end:]
    src = src.replace("l->atime = timespec_to_uint64(&tv[0]);", "l->atime = utimens_time_to_uint64(&tv[0]);")
    src = src.replace("l->mtime = timespec_to_uint64(&tv[1]);", "l->mtime = utimens_time_to_uint64(&tv[1]);")
    src = src.replace("struct fuse_operations ops = { };", "struct fuse_operations ops = { };\n  ops.flag_utime_omit_ok = 1;")
    if "#include <time.h>" not in src:
        src = src.replace("#include <string.h>", "#include <string.h>\n#include <time.h>\n#include <sys/stat.h>")
if "fuse_native_caller" not in src:
    # Fields of the per-thread request record.
    src = src.replace("  int32_t res;\n", "  int32_t res;\n  uint32_t caller_uid;\n  uint32_t caller_gid;\n", 1)
    # Taken on libfuse's thread, where the context lives.
    src = src.replace(
        "  fuse_thread_locals_t *l = get_thread_locals();\\\n  l->op = op_##name;\\\n",
        "  fuse_thread_locals_t *l = get_thread_locals();\\\n  l->caller_uid = fuse_get_context()->uid;\\\n  l->caller_gid = fuse_get_context()->gid;\\\n  l->op = op_##name;\\\n", 1)
    # Published on the JavaScript thread just before the handler runs (synchronously).
    src = src.replace(
        "static void fuse_native_dispatch (uv_async_t* handle) {\n  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;\n",
        "static void fuse_native_dispatch (uv_async_t* handle) {\n  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;\n  rdrive_caller_uid = l->caller_uid;\n  rdrive_caller_gid = l->caller_gid;\n", 1)
    getter = """
/* rdrive: the uid and gid of the process whose request JavaScript is handling now. */
static uint32_t rdrive_caller_uid = 0;
static uint32_t rdrive_caller_gid = 0;

NAPI_METHOD(fuse_native_caller) {
  napi_value result, uid, gid;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, rdrive_caller_uid, &uid);
  napi_create_uint32(env, rdrive_caller_gid, &gid);
  napi_set_element(env, result, 0, uid);
  napi_set_element(env, result, 1, gid);
  return result;
}

"""
    src = src.replace("static void fuse_native_dispatch (uv_async_t* handle) {", getter + "static void fuse_native_dispatch (uv_async_t* handle) {", 1)
    src = src.replace("  NAPI_EXPORT_FUNCTION(fuse_native_signal_init)\n", "  NAPI_EXPORT_FUNCTION(fuse_native_signal_init)\n  NAPI_EXPORT_FUNCTION(fuse_native_caller)\n", 1)
    for needle in ("l->caller_uid = fuse_get_context()", "rdrive_caller_uid = l->caller_uid", "NAPI_EXPORT_FUNCTION(fuse_native_caller)", "uint32_t caller_gid;"):
        if needle not in src:
            sys.exit("patch-fuse-native: could not apply the caller patch (" + needle + ")")
if "rdrive: times before 1970" not in src:
    # 4. Times before 1970 (ext4 keeps them back to 1901): the stat times JavaScript passes are
    #    a signed 64-bit count of ms (two's complement in two uint32s), divided as unsigned they
    #    became dates far in the future; and utimens' negative times, passed as such, reach
    #    JavaScript as doubles near 2^64 with their milliseconds lost. They go as ms + 2^49
    #    instead (OMIT's 2^48-1 and every valid time up to 2446 stay below 2^48).
    old_ts = """static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  uint64_t ms = uint32s_to_uint64(ints);
  ts->tv_sec = ms / 1000;
  ts->tv_nsec = (ms % 1000) * 1000000;
}"""
    new_ts = """static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  /* rdrive: times before 1970 are negative ms: signed, and floored to whole seconds. */
  int64_t ms = (int64_t) uint32s_to_uint64(ints);
  int64_t sec = ms / 1000;
  int64_t rem = ms % 1000;
  if (rem < 0) { sec -= 1; rem += 1000; }
  ts->tv_sec = sec;
  ts->tv_nsec = rem * 1000000;
}"""
    old_ut = """  return timespec_to_uint64(ts);
}

static void populate_stat"""
    new_ut = """  int64_t ms = (int64_t) ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
  if (ms < 0) return (uint64_t) (ms + 562949953421312LL); /* 2^49 */
  return (uint64_t) ms;
}

static void populate_stat"""
    if old_ts not in src or old_ut not in src:
        sys.exit("patch-fuse-native: could not apply the times-before-1970 patch")
    src = src.replace(old_ts, new_ts, 1).replace(old_ut, new_ut, 1)
if "rdrive_caller_pid" not in src:
    # 5. The caller's pid (the thread that made the system call) joins uid and gid: a rename
    #    libfuse makes to hide a file still open is told apart by the call its caller is in
    #    (rename(2) over the name, or unlink(2)), read from /proc/<pid>/syscall.
    steps = [
        ("  uint32_t caller_gid;\n", "  uint32_t caller_gid;\n  uint32_t caller_pid;\n"),
        ("  l->caller_gid = fuse_get_context()->gid;\\\n", "  l->caller_gid = fuse_get_context()->gid;\\\n  l->caller_pid = fuse_get_context()->pid;\\\n"),
        ("static uint32_t rdrive_caller_gid = 0;\n", "static uint32_t rdrive_caller_gid = 0;\nstatic uint32_t rdrive_caller_pid = 0;\n"),
        ("  rdrive_caller_gid = l->caller_gid;\n", "  rdrive_caller_gid = l->caller_gid;\n  rdrive_caller_pid = l->caller_pid;\n"),
        ("  napi_set_element(env, result, 1, gid);\n", "  napi_set_element(env, result, 1, gid);\n  napi_value pid;\n  napi_create_uint32(env, rdrive_caller_pid, &pid);\n  napi_set_element(env, result, 2, pid);\n"),
    ]
    for old_text, new_text in steps:
        if old_text not in src:
            sys.exit("patch-fuse-native: could not apply the caller pid patch (" + old_text.strip() + ")")
        src = src.replace(old_text, new_text, 1)
if "rdrive_release_thread_locals" not in src:
    # 6. libfuse 2 starts a thread whenever all of its threads are busy and ends one as soon as
    #    more than ten are idle, so every burst of calls starts and ends threads. fuse-native
    #    made each new thread a request record (a Buffer held by a napi reference, with a
    #    uv_async handle on the main loop) and never freed it: a mount grew by one record per
    #    thread ever started (455 after seven bursts of 80 cat's), and since libuv looks at
    #    every async handle at each wakeup, each FUSE call cost more the longer it ran. The
    #    record of a thread that ends (its pthread key's destructor) now goes to a free list,
    #    and a new thread of the same mount takes it from there: records stay as many as the
    #    most threads at once. A record's last call is answered before its thread can end, so
    #    no call of the old thread is pending on it.
    steps = [
        ("  uv_async_t async;\n\n} fuse_thread_locals_t;\n",
         "  uv_async_t async;\n  /* rdrive: next record on the free list (see rdrive_release_thread_locals). */\n  void *rdrive_next_free;\n\n} fuse_thread_locals_t;\n"),
        ("static fuse_thread_locals_t* get_thread_locals () {\n",
         """/* rdrive: records of libfuse threads that ended, for the next thread of the same mount. */
static fuse_thread_locals_t *rdrive_free_locals = NULL;
static pthread_mutex_t rdrive_free_locals_lock = PTHREAD_MUTEX_INITIALIZER;

static void rdrive_release_thread_locals (void *data) {
  fuse_thread_locals_t *l = (fuse_thread_locals_t *) data;
  pthread_mutex_lock(&rdrive_free_locals_lock);
  l->rdrive_next_free = rdrive_free_locals;
  rdrive_free_locals = l;
  pthread_mutex_unlock(&rdrive_free_locals_lock);
}

static fuse_thread_locals_t* rdrive_reuse_thread_locals (fuse_thread_t *ft) {
  pthread_mutex_lock(&rdrive_free_locals_lock);
  fuse_thread_locals_t **link = &rdrive_free_locals;
  while (*link != NULL && (*link)->fuse != ft) link = (fuse_thread_locals_t **) &((*link)->rdrive_next_free);
  fuse_thread_locals_t *l = *link;
  if (l != NULL) {
    *link = (fuse_thread_locals_t *) l->rdrive_next_free;
    l->rdrive_next_free = NULL;
  }
  pthread_mutex_unlock(&rdrive_free_locals_lock);
  return l;
}

static fuse_thread_locals_t* get_thread_locals () {
"""),
        ("  if (data != NULL) {\n    return (fuse_thread_locals_t *) data;\n  }\n",
         "  if (data != NULL) {\n    return (fuse_thread_locals_t *) data;\n  }\n\n  fuse_thread_locals_t *reused = rdrive_reuse_thread_locals(ft);\n  if (reused != NULL) {\n    pthread_setspecific(thread_locals_key, (void *) reused);\n    return reused;\n  }\n"),
        ("pthread_key_create(&(thread_locals_key), NULL); // TODO: add destructor",
         "pthread_key_create(&(thread_locals_key), rdrive_release_thread_locals);"),
    ]
    for old_text, new_text in steps:
        if old_text not in src:
            sys.exit("patch-fuse-native: could not apply the thread record patch (" + old_text.strip()[:60] + ")")
        src = src.replace(old_text, new_text, 1)
if src != orig:
    open(path, "w").write(src)
    print("patched")
