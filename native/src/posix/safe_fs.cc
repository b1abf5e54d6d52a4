// Path-safe file primitives for restore and verify: every name is one component resolved
// relative to a directory descriptor (openat and friends), and no symbolic link is ever followed.
// A path re-resolved later can be redirected by whoever can write a directory on the way (a link
// planted at a temp name, a component swapped after it was checked); a descriptor cannot. Node
// has no *at() calls, so they live here; data is read and written from JavaScript on the
// descriptors these return.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "common/errors.h"
#include "posix/posix.h"

namespace mbam {
namespace {

// One path component: not empty, no '/', not "." or ".." (which would leave the directory).
bool IsComponent(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos && s.find('\0') == std::string::npos;
}

bool DirFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  *fd = info[i].As<Napi::Number>().Int32Value();
  return *fd >= 0;
}

bool Name(const Napi::CallbackInfo& info, size_t i, std::string* name) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  *name = info[i].As<Napi::String>().Utf8Value();
  return IsComponent(*name);
}

Napi::Value Usage(Napi::Env env, const char* usage) {
  Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Fail(Napi::Env env, int err, const char* op, const std::string& name) {
  ErrnoError(env, err, op, name).ThrowAsJavaScriptException();
  return env.Undefined();
}

// openAt(dirFd, name, flags, mode) -> fd. O_NOFOLLOW and O_CLOEXEC are always added: a link at
// `name` fails with ELOOP instead of being followed (O_EXCL with O_CREAT refuses one too).
Napi::Value OpenAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirFd;
  std::string name;
  if (!DirFd(info, 0, &dirFd) || !Name(info, 1, &name) || info.Length() < 3 || !info[2].IsNumber()) {
    return Usage(env, "openAt(dirFd: number, name: single path component, flags: number, mode?: number)");
  }
  const int flags = info[2].As<Napi::Number>().Int32Value() | O_NOFOLLOW | O_CLOEXEC;
  const mode_t mode = info.Length() > 3 && info[3].IsNumber() ? static_cast<mode_t>(info[3].As<Napi::Number>().Uint32Value() & 07777) : 0600;
  int fd;
  do fd = openat(dirFd, name.c_str(), flags, mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Fail(env, errno, "openat", name);
  return Napi::Number::New(env, fd);
}

// mkdirAt(dirFd, name, mode): mkdirat never follows a link at `name` (EEXIST instead).
Napi::Value MkdirAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirFd;
  std::string name;
  if (!DirFd(info, 0, &dirFd) || !Name(info, 1, &name) || info.Length() < 3 || !info[2].IsNumber()) {
    return Usage(env, "mkdirAt(dirFd: number, name: single path component, mode: number)");
  }
  if (mkdirat(dirFd, name.c_str(), static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value() & 07777)) != 0) return Fail(env, errno, "mkdirat", name);
  return env.Undefined();
}

// statAt(dirFd, name) -> { mode, uid, gid, size, dev, ino, nlink } of the entry itself (a link
// is reported as a link), or null when there is none.
Napi::Value StatAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirFd;
  std::string name;
  if (!DirFd(info, 0, &dirFd) || !Name(info, 1, &name)) return Usage(env, "statAt(dirFd: number, name: single path component)");
  struct stat st;
  if (fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return env.Null();
    return Fail(env, errno, "fstatat", name);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", Napi::Number::New(env, st.st_mode));
  o.Set("uid", Napi::Number::New(env, st.st_uid));
  o.Set("gid", Napi::Number::New(env, st.st_gid));
  o.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  o.Set("dev", Napi::Number::New(env, static_cast<double>(st.st_dev)));
  o.Set("ino", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  o.Set("nlink", Napi::Number::New(env, static_cast<double>(st.st_nlink)));
  return o;
}

// renameAt(fromDirFd, from, toDirFd, to, noReplace): rename never follows a link at either name.
// With noReplace an existing `to` fails with EEXIST instead of being replaced (renameat2
// RENAME_NOREPLACE); where the kernel or filesystem lacks it, EINVAL/ENOSYS come back and the
// caller decides.
Napi::Value RenameAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fromFd, toFd;
  std::string from, to;
  if (!DirFd(info, 0, &fromFd) || !Name(info, 1, &from) || !DirFd(info, 2, &toFd) || !Name(info, 3, &to)) {
    return Usage(env, "renameAt(fromDirFd, from: single path component, toDirFd, to: single path component, noReplace?: boolean)");
  }
  const bool noReplace = info.Length() > 4 && info[4].ToBoolean().Value();
  int rc;
  if (noReplace) {
#if defined(__linux__) && defined(SYS_renameat2)
    rc = static_cast<int>(syscall(SYS_renameat2, fromFd, from.c_str(), toFd, to.c_str(), 1 /* RENAME_NOREPLACE */));
#else
    errno = ENOSYS;
    rc = -1;
#endif
  } else {
    rc = renameat(fromFd, from.c_str(), toFd, to.c_str());
  }
  if (rc != 0) return Fail(env, errno, noReplace ? "renameat2" : "renameat", from + " -> " + to);
  return env.Undefined();
}

// linkAt(fromDirFd, from, toDirFd, to): a second name for the entry itself (flags 0: a link at
// `from` is not followed), so that a replaced file can be put back.
Napi::Value LinkAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fromFd, toFd;
  std::string from, to;
  if (!DirFd(info, 0, &fromFd) || !Name(info, 1, &from) || !DirFd(info, 2, &toFd) || !Name(info, 3, &to)) {
    return Usage(env, "linkAt(fromDirFd, from: single path component, toDirFd, to: single path component)");
  }
  if (linkat(fromFd, from.c_str(), toFd, to.c_str(), 0) != 0) return Fail(env, errno, "linkat", from + " -> " + to);
  return env.Undefined();
}

// unlinkAt(dirFd, name, directory): removes the entry itself, never what a link points to.
Napi::Value UnlinkAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirFd;
  std::string name;
  if (!DirFd(info, 0, &dirFd) || !Name(info, 1, &name)) return Usage(env, "unlinkAt(dirFd: number, name: single path component, directory?: boolean)");
  const bool dir = info.Length() > 2 && info[2].ToBoolean().Value();
  if (unlinkat(dirFd, name.c_str(), dir ? AT_REMOVEDIR : 0) != 0) return Fail(env, errno, "unlinkat", name);
  return env.Undefined();
}

// readDirAt(dirFd) -> [[name, kind]], kind 'dir' | 'file' | 'link' | 'other', from lstat-like
// information (a link is never followed). The descriptor stays open (the listing uses a dup).
Napi::Value ReadDirAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirFd;
  if (!DirFd(info, 0, &dirFd)) return Usage(env, "readDirAt(dirFd: number)");
  const int dupFd = fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) return Fail(env, errno, "fcntl", "F_DUPFD_CLOEXEC");
  DIR* d = fdopendir(dupFd);
  if (!d) {
    const int err = errno;
    close(dupFd);
    return Fail(env, err, "fdopendir", "");
  }
  rewinddir(d);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (!e) break;
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    const char* kind = type == DT_DIR ? "dir" : type == DT_REG ? "file" : type == DT_LNK ? "link" : "other";
    Napi::Array entry = Napi::Array::New(env, 2);
    entry.Set(0u, Napi::String::New(env, name));
    entry.Set(1u, Napi::String::New(env, kind));
    out.Set(n++, entry);
  }
  const int err = errno;
  closedir(d);
  if (err != 0) return Fail(env, err, "readdir", "");
  return out;
}

}  // namespace

void RegisterSafeFs(Napi::Env env, Napi::Object exports) {
  exports.Set("openAt", Napi::Function::New(env, OpenAt, "openAt"));
  exports.Set("mkdirAt", Napi::Function::New(env, MkdirAt, "mkdirAt"));
  exports.Set("statAt", Napi::Function::New(env, StatAt, "statAt"));
  exports.Set("renameAt", Napi::Function::New(env, RenameAt, "renameAt"));
  exports.Set("linkAt", Napi::Function::New(env, LinkAt, "linkAt"));
  exports.Set("unlinkAt", Napi::Function::New(env, UnlinkAt, "unlinkAt"));
  exports.Set("readDirAt", Napi::Function::New(env, ReadDirAt, "readDirAt"));
}

}  // namespace mbam
