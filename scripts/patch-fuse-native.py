"""Patches fuse-native 2.2.6's C source so that utimens carries the real mtime.

1. It passed atime in both slots (mtime was lost).
2. libfuse 2.9 drops a setattr that changes only one of the times (touch -m, tar x, rsync's
   directory times) unless the filesystem sets flag_utime_omit_ok; then it passes UTIME_OMIT
   and UTIME_NOW, which we encode for JavaScript: now as the current time, omit as OMIT_MS.
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
if src != orig:
    open(path, "w").write(src)
    print("patched")
