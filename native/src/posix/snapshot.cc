// Snapshot and copy primitives: btrfs read-only subvolume snapshots (atomic, no freeze needed) and
// their deletion, filesystem identification, reflink clones (FICLONE) and early writeback
// (sync_file_range). Errors carry the errno name and the path.
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/errors.h"
#include "posix/posix.h"

namespace mbam {
namespace {

std::string Arg(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
}

// btrfsSnapshot(sourceSubvolume, destinationDir, name, readOnly)
Napi::Value BtrfsSnapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string src = Arg(info, 0), dstDir = Arg(info, 1), name = Arg(info, 2);
  const bool readOnly = info.Length() < 4 || info[3].ToBoolean().Value();
  if (src.empty() || dstDir.empty() || name.empty() || name.size() > BTRFS_SUBVOL_NAME_MAX || name.find('/') != std::string::npos) {
    Napi::TypeError::New(env, "btrfsSnapshot(source, destinationDir, name, readOnly)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int srcFd = open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (srcFd < 0) {
    ErrnoError(env, errno, "open", src).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int dstFd = open(dstDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dstFd < 0) {
    const int err = errno;
    close(srcFd);
    ErrnoError(env, err, "open", dstDir).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct btrfs_ioctl_vol_args_v2 args;
  std::memset(&args, 0, sizeof args);
  args.fd = srcFd;
  args.flags = readOnly ? BTRFS_SUBVOL_RDONLY : 0;
  std::memcpy(args.name, name.data(), name.size());
  const int rc = ioctl(dstFd, BTRFS_IOC_SNAP_CREATE_V2, &args);
  const int err = errno;
  close(srcFd);
  close(dstFd);
  if (rc != 0) {
    ErrnoError(env, err, "BTRFS_IOC_SNAP_CREATE_V2", src).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

// btrfsDeleteSubvolume(parentDir, name)
Napi::Value BtrfsDeleteSubvolume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string dir = Arg(info, 0), name = Arg(info, 1);
  if (dir.empty() || name.empty() || name.size() >= BTRFS_PATH_NAME_MAX || name.find('/') != std::string::npos) {
    Napi::TypeError::New(env, "btrfsDeleteSubvolume(parentDir, name)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ErrnoError(env, errno, "open", dir).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct btrfs_ioctl_vol_args args;
  std::memset(&args, 0, sizeof args);
  std::memcpy(args.name, name.data(), name.size());
  const int rc = ioctl(fd, BTRFS_IOC_SNAP_DESTROY, &args);
  const int err = errno;
  close(fd);
  if (rc != 0) {
    ErrnoError(env, err, "BTRFS_IOC_SNAP_DESTROY", dir + "/" + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

// fsType(path) -> "btrfs" | "ext4" | "xfs" | "tmpfs" | "0x…"
Napi::Value FsType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = Arg(info, 0);
  struct statfs s;
  if (statfs(path.c_str(), &s) != 0) {
    ErrnoError(env, errno, "statfs", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  switch (static_cast<unsigned long>(s.f_type)) {
    case BTRFS_SUPER_MAGIC: return Napi::String::New(env, "btrfs");
    case EXT4_SUPER_MAGIC: return Napi::String::New(env, "ext4");
    case XFS_SUPER_MAGIC: return Napi::String::New(env, "xfs");
    case TMPFS_MAGIC: return Napi::String::New(env, "tmpfs");
    case OVERLAYFS_SUPER_MAGIC: return Napi::String::New(env, "overlay");
    default: {
      char buf[24];
      snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(s.f_type));
      return Napi::String::New(env, buf);
    }
  }
}

// reflink(srcFd, dstFd) -> true when cloned; false when this filesystem pair cannot share extents.
Napi::Value Reflink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "reflink(srcFd, dstFd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int src = info[0].As<Napi::Number>().Int32Value(), dst = info[1].As<Napi::Number>().Int32Value();
  if (ioctl(dst, FICLONE, src) == 0) return Napi::Boolean::New(env, true);
  const int err = errno;
  if (err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS) return Napi::Boolean::New(env, false);
  ErrnoError(env, err, "FICLONE", "").ThrowAsJavaScriptException();
  return env.Undefined();
}

// startWriteback(fd, offset, length): starts writing those dirty pages to disk without waiting,
// so that a large copy's final fsync does not have to flush everything at once.
Napi::Value StartWriteback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "startWriteback(fd, offset, length)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const off64_t off = info[1].As<Napi::Number>().Int64Value();
  const off64_t len = info[2].As<Napi::Number>().Int64Value();
  // Advisory: a filesystem that does not support it loses nothing but the overlap.
  (void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
  return env.Undefined();
}

// alignedBuffer(size) -> a Buffer whose memory starts on a 4096-byte boundary, as O_DIRECT reads
// and writes require of the user buffer (V8's and malloc's large blocks are not page aligned).
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "alignedBuffer(size)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t size = info[0].As<Napi::Number>().Int64Value();
  if (size <= 0 || size > (int64_t{1} << 30) || size % 4096 != 0) {
    Napi::RangeError::New(env, "alignedBuffer: size must be a positive multiple of 4096, at most 1 GiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void* p = nullptr;
  if (posix_memalign(&p, 4096, static_cast<size_t>(size)) != 0) {
    ErrnoError(env, ENOMEM, "posix_memalign", "").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), static_cast<size_t>(size), [](Napi::Env, uint8_t* data) { free(data); });
}

}  // namespace

void RegisterSnapshot(Napi::Env env, Napi::Object exports) {
  exports.Set("btrfsSnapshot", Napi::Function::New(env, BtrfsSnapshot, "btrfsSnapshot"));
  exports.Set("btrfsDeleteSubvolume", Napi::Function::New(env, BtrfsDeleteSubvolume, "btrfsDeleteSubvolume"));
  exports.Set("fsType", Napi::Function::New(env, FsType, "fsType"));
  exports.Set("reflink", Napi::Function::New(env, Reflink, "reflink"));
  exports.Set("startWriteback", Napi::Function::New(env, StartWriteback, "startWriteback"));
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer, "alignedBuffer"));
}

}  // namespace mbam
