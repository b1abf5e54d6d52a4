// The freeze guard: FIFREEZE a set of filesystems and guarantee FITHAW, on request, at the
// deadline, and when the owning process dies, without depending on the JavaScript event loop or
// on the owner surviving.
//
// A forked watchdog child does the freezing and thawing. It holds the read end of a control pipe
// whose only write end is in the owner (O_CLOEXEC, so no other child inherits it): a byte means
// "thaw now"; end-of-file means the owner died, however it died; poll()'s timeout is the deadline.
// The child reports over a status pipe. If the child itself is killed, the owner sees end-of-file
// there and thaws with its own descriptors.
//
// The child runs in a copy of a multi-threaded process, so it calls only async-signal-safe system
// calls on memory prepared before fork(): no malloc, no locks, no C++ runtime.
//
// A snapshot command is started before the freeze, not inside it: process creation and the
// shell's start-up would otherwise lengthen the window in which writes are blocked. It waits on a
// gate (a pipe at its descriptor 3) and the watchdog opens the gate with one byte right after
// FIFREEZE; if the freeze fails, the gate closes without a byte and the command must not act.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/errors.h"
#include "common/queue.h"
#include "posix/posix.h"

namespace mbam {
namespace {

enum Reason : int32_t { kRequested = 1, kDeadline = 2, kOwnerGone = 3, kFreezeFailed = 4, kCommandDone = 5 };

struct FreezeReport {  // child -> owner, after freezing
  int32_t frozen;      // how many were frozen (all, or up to the failing one)
  int32_t failedIndex; // -1 when all froze
  int32_t error;       // errno of the failure
};
struct ThawReport {    // child -> owner, after thawing
  int32_t reason;
  int32_t thawErrors;  // how many FITHAW calls failed (other than EINVAL: not frozen)
  int32_t firstError;
  int32_t commandStatus;  // exit code, 128 + signal, or -1 when there was no command / it did not end
  int64_t heldMs;         // first FIFREEZE to last FITHAW, measured by the watchdog
};

// The snapshot command, prepared before fork() (posix_spawn's structures allocate memory).
struct Command {
  bool present = false;
  int gate[2] = {-1, -1};  // the command reads [0] as its descriptor 3; the watchdog writes [1]
  std::vector<std::string> argvStore, envStore;
  std::vector<char*> argv, envp;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

int WaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

ssize_t WriteAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    done += static_cast<size_t>(w);
  }
  return static_cast<ssize_t>(done);
}

ssize_t ReadAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < n) {
    ssize_t r = read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return static_cast<ssize_t>(done);
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

ThawReport ThawAll(const int* fds, int count, int32_t reason) {
  ThawReport r{reason, 0, 0, -1, 0};
  // Thaw in reverse order of freezing.
  for (int i = count - 1; i >= 0; i--) {
    if (ioctl(fds[i], FITHAW, 0) != 0 && errno != EINVAL) {
      if (r.thawErrors++ == 0) r.firstError = errno;
    }
  }
  return r;
}

[[noreturn]] void ChildMain(const int* fds, int count, int control, int status, int64_t deadlineMs, Command* cmd) {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  // A Ctrl-C or a TERM meant for the owner's process group must not stop the thaw.
  sigaction(SIGINT, &ign, nullptr);
  sigaction(SIGTERM, &ign, nullptr);
  sigaction(SIGHUP, &ign, nullptr);
  sigaction(SIGPIPE, &ign, nullptr);

  // The snapshot command runs right here, and the thaw follows its exit at once: no round trip
  // through the owner stands between FIFREEZE, the snapshot and FITHAW.
  pid_t command = -1;
  int pidfd = -1;
  if (cmd->present) {
    if (posix_spawn(&command, cmd->argv[0], &cmd->actions, &cmd->attr, cmd->argv.data(), cmd->envp.data()) != 0) command = -1;
    if (command > 0) pidfd = static_cast<int>(syscall(SYS_pidfd_open, command, 0));
    close(cmd->gate[0]);
  }

  const int64_t started = NowMs();
  FreezeReport fr{0, -1, 0};
  for (int i = 0; i < count; i++) {
    if (ioctl(fds[i], FIFREEZE, 0) != 0) {
      fr.failedIndex = i;
      fr.error = errno;
      break;
    }
    fr.frozen++;
  }
  if (fr.failedIndex >= 0) {
    ThawAll(fds, fr.frozen, kFreezeFailed);
    if (command > 0) {
      // The gate closes without a byte: the command must not snapshot a filesystem that is not frozen.
      close(cmd->gate[1]);
      kill(-command, SIGKILL);
      waitpid(command, nullptr, 0);
    }
    WriteAll(status, &fr, sizeof fr);
    _exit(1);
  }
  const int64_t deadline = started + deadlineMs;
  if (cmd->present) {
    const char go = '\n';
    (void)WriteAll(cmd->gate[1], &go, 1);
    close(cmd->gate[1]);
  }
  WriteAll(status, &fr, sizeof fr);

  int32_t reason = kDeadline;
  int commandStatus = -1;
  // A command that could not start has failed: thaw at once rather than at the deadline.
  const bool startFailed = cmd->present && command <= 0;
  if (startFailed) {
    reason = kCommandDone;
    commandStatus = 127;
  }
  while (!startFailed) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) break;
    struct pollfd p[2] = {{control, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int nfds = pidfd >= 0 ? 2 : 1;
    // Without a pidfd (old kernels) the command is polled for every 5 ms.
    const int64_t slice = (command > 0 && pidfd < 0 && left > 5) ? 5 : left;
    const int n = poll(p, static_cast<nfds_t>(nfds), static_cast<int>(slice > 0x7fffffff ? 0x7fffffff : slice));
    if (n < 0 && errno == EINTR) continue;
    if (command > 0) {
      int st = 0;
      if (waitpid(command, &st, WNOHANG) == command) {
        commandStatus = WaitStatus(st);
        command = -1;
        reason = kCommandDone;
        break;
      }
    }
    if (n == 0) continue;
    if (p[0].revents != 0) {
      char c;
      const ssize_t r = read(control, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      reason = r == 1 ? kRequested : kOwnerGone;
      break;
    }
  }
  if (command > 0) {
    // Still running at the deadline, on request, or with the owner gone: stop it before thawing.
    kill(-command, SIGKILL);
    int st = 0;
    waitpid(command, &st, 0);
  }
  ThawReport tr = ThawAll(fds, count, reason);
  tr.commandStatus = commandStatus;
  tr.heldMs = NowMs() - started;
  WriteAll(status, &tr, sizeof tr);
  _exit(tr.thawErrors == 0 ? 0 : 2);
}

struct Guard {
  pid_t pid = -1;
  int control = -1;  // owner's write end
  int status = -1;   // owner's read end
  std::vector<int> fds;
  std::vector<std::string> paths;
  bool ended = false;
};

// Guards live in a table indexed by handle number, so that JavaScript holds only an integer.
std::vector<Guard*>& Guards() {
  static std::vector<Guard*> guards;
  return guards;
}

void CloseAll(Guard* g) {
  for (int fd : g->fds) close(fd);
  g->fds.clear();
  if (g->control >= 0) close(g->control);
  if (g->status >= 0) close(g->status);
  g->control = g->status = -1;
}

void CloseGate(Command* cmd) {
  for (int& fd : cmd->gate) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

class BeginWorker : public Napi::AsyncWorker {
 public:
  BeginWorker(Napi::Env env, std::vector<std::string> paths, int64_t deadlineMs, Command* cmd)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), deadlineMs_(deadlineMs), cmd_(cmd) {
    guard_ = new Guard();
    guard_->paths = std::move(paths);
  }
  ~BeginWorker() override {
    if (cmd_->present) {
      posix_spawn_file_actions_destroy(&cmd_->actions);
      posix_spawnattr_destroy(&cmd_->attr);
    }
    CloseGate(cmd_);
    delete cmd_;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Guard* g = guard_;
    for (const std::string& p : g->paths) {
      const int fd = open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Fail(errno, "open", p);
      g->fds.push_back(fd);
    }
    int control[2], status[2];
    if (pipe2(control, O_CLOEXEC) != 0) return Fail(errno, "pipe2", "");
    if (pipe2(status, O_CLOEXEC) != 0) {
      close(control[0]);
      close(control[1]);
      return Fail(errno, "pipe2", "");
    }
    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      close(control[0]); close(control[1]); close(status[0]); close(status[1]);
      return Fail(err, "fork", "");
    }
    if (pid == 0) {
      close(control[1]);
      close(status[0]);
      ChildMain(g->fds.data(), static_cast<int>(g->fds.size()), control[0], status[1], deadlineMs_, cmd_);
    }
    close(control[0]);
    close(status[1]);
    // Only the watchdog and the command may hold the gate, or its end-of-file would never come.
    CloseGate(cmd_);
    g->pid = pid;
    g->control = control[1];
    g->status = status[0];
    FreezeReport fr{};
    if (ReadAll(g->status, &fr, sizeof fr) != static_cast<ssize_t>(sizeof fr)) {
      waitpid(pid, nullptr, 0);
      return Fail(ECHILD, "freeze guard", "the watchdog died before reporting");
    }
    if (fr.failedIndex >= 0) {
      waitpid(pid, nullptr, 0);
      return Fail(fr.error, "FIFREEZE", g->paths[static_cast<size_t>(fr.failedIndex)]);
    }
  }
  void OnOK() override {
    Guards().push_back(guard_);
    Napi::Object o = Napi::Object::New(Env());
    o.Set("handle", static_cast<double>(Guards().size() - 1));
    o.Set("pid", static_cast<double>(guard_->pid));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override {
    CloseAll(guard_);
    delete guard_;
    deferred_.Reject(ErrnoError(Env(), err_, op_, path_).Value());
  }

 private:
  void Fail(int err, const char* op, const std::string& path) {
    err_ = err;
    op_ = op;
    path_ = path;
    SetError(op);
  }
  Napi::Promise::Deferred deferred_;
  Guard* guard_;
  int64_t deadlineMs_;
  Command* cmd_;
  int err_ = 0;
  std::string op_, path_;
};

class EndWorker : public Napi::AsyncWorker {
 public:
  // request=false waits for the watchdog to thaw by itself (command done, or deadline).
  EndWorker(Napi::Env env, Guard* g, bool request) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), g_(g), request_(request) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const char c = 'T';
    // EPIPE when the watchdog already thawed at its deadline and exited; its report still waits.
    if (request_) (void)WriteAll(g_->control, &c, 1);
    ThawReport tr{};
    if (ReadAll(g_->status, &tr, sizeof tr) != static_cast<ssize_t>(sizeof tr)) {
      // The watchdog was killed: thaw here, with our own descriptors.
      tr = ThawAll(g_->fds.data(), static_cast<int>(g_->fds.size()), kOwnerGone);
      watchdogLost_ = true;
    }
    waitpid(g_->pid, nullptr, 0);
    report_ = tr;
    CloseAll(g_);
    g_->ended = true;
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    const char* reason = report_.reason == kRequested ? "requested" : report_.reason == kDeadline ? "deadline" : report_.reason == kCommandDone ? "command-done" : "watchdog-lost";
    o.Set("reason", watchdogLost_ ? "watchdog-lost" : reason);
    o.Set("commandStatus", report_.commandStatus);
    o.Set("heldMs", static_cast<double>(report_.heldMs));
    o.Set("thawErrors", report_.thawErrors);
    if (report_.thawErrors) {
      const char* name = ErrnoName(report_.firstError);
      o.Set("firstError", name ? name : "EIO");
    }
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Guard* g_;
  bool request_;
  ThawReport report_{};
  bool watchdogLost_ = false;
};

Napi::Value FreezeBegin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "freezeBegin(mountPoints: string[], deadlineMs: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, "freezeBegin: mount points must be strings").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  const int64_t deadline = info[1].As<Napi::Number>().Int64Value();
  if (paths.empty() || deadline <= 0) {
    Napi::RangeError::New(env, "freezeBegin: at least one mount point and a positive deadline").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* cmd = new Command();
  if (info.Length() > 2 && info[2].IsObject()) {
    // { argv: string[], env: string[], output: string }: argv[0] is an absolute path, and the
    // program waits for a byte on its descriptor 3 before it acts (see the gate, above).
    Napi::Object c = info[2].As<Napi::Object>();
    Napi::Array argv = c.Get("argv").As<Napi::Array>();
    Napi::Array envv = c.Get("env").As<Napi::Array>();
    for (uint32_t i = 0; i < argv.Length(); i++) cmd->argvStore.push_back(argv.Get(i).As<Napi::String>().Utf8Value());
    for (uint32_t i = 0; i < envv.Length(); i++) cmd->envStore.push_back(envv.Get(i).As<Napi::String>().Utf8Value());
    for (auto& a : cmd->argvStore) cmd->argv.push_back(&a[0]);
    cmd->argv.push_back(nullptr);
    for (auto& e : cmd->envStore) cmd->envp.push_back(&e[0]);
    cmd->envp.push_back(nullptr);
    const std::string output = c.Get("output").As<Napi::String>().Utf8Value();
    if (pipe2(cmd->gate, O_CLOEXEC) != 0) {
      const int err = errno;
      delete cmd;
      ErrnoError(env, err, "pipe2", "").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Above the standard descriptors, so that the dup2 to 3 below always makes a new descriptor
    // (a dup2 onto itself would keep close-on-exec).
    const int high = fcntl(cmd->gate[0], F_DUPFD_CLOEXEC, 10);
    if (high >= 0) {
      close(cmd->gate[0]);
      cmd->gate[0] = high;
    }
    posix_spawn_file_actions_init(&cmd->actions);
    posix_spawn_file_actions_adddup2(&cmd->actions, cmd->gate[0], 3);
    posix_spawn_file_actions_addopen(&cmd->actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&cmd->actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&cmd->actions, 1, 2);
    posix_spawnattr_init(&cmd->attr);
    // Its own process group, so that the deadline kills everything it started.
    posix_spawnattr_setpgroup(&cmd->attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&cmd->attr, &none);
    posix_spawnattr_setsigdefault(&cmd->attr, &all);
    posix_spawnattr_setflags(&cmd->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    cmd->present = !cmd->argvStore.empty();
  }
  return QueueWorker<BeginWorker>(env, std::move(paths), deadline, cmd);
}

Napi::Value FreezeEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t h = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
  if (h < 0 || static_cast<size_t>(h) >= Guards().size() || Guards()[static_cast<size_t>(h)]->ended) {
    Napi::Error::New(env, "freezeEnd: no such active freeze guard").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool request = !(info.Length() > 1 && info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value());
  return QueueWorker<EndWorker>(env, Guards()[static_cast<size_t>(h)], request);
}

}  // namespace

void RegisterFreezeGuard(Napi::Env env, Napi::Object exports) {
  exports.Set("freezeBegin", Napi::Function::New(env, FreezeBegin, "freezeBegin"));
  exports.Set("freezeEnd", Napi::Function::New(env, FreezeEnd, "freezeEnd"));
}

}  // namespace mbam
