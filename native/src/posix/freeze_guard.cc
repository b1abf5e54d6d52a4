// The freeze guard: FIFREEZE a set of filesystems and guarantee FITHAW, on request, at the
// deadline, and whatever happens to the owning process or to the watchdog, without depending on
// the JavaScript event loop.
//
// A forked watchdog child does the freezing and thawing. It holds the read end of a control pipe
// whose only write end is in the owner: a byte means "thaw now"; end-of-file means the owner died,
// however it died; poll()'s timeout is the deadline. It reports over a status pipe.
//
// Nothing aimed at the owner may hold the freeze:
//  - The watchdog calls setsid(): a signal to the owner's process group or session (a service
//    manager's final SIGKILL, `timeout -s KILL`, Ctrl-C, Ctrl-\, Ctrl-Z) does not reach it, and
//    it thaws when the owner dies or stops answering (end-of-file) and at its own deadline.
//  - Every signal the watchdog can catch makes it thaw at once (a signalfd): SIGTERM, SIGINT,
//    SIGTSTP...; SIGKILL and SIGSTOP it cannot catch, so a native thread in the owner watches it:
//    end-of-file on the status pipe means it died, no thaw report by deadline + kOwnerMarginMs
//    means it is stopped or stuck. The owner then kills it and its snapshot command, waits until
//    it is gone (so that no FIFREEZE of it is still in flight) and thaws with its own descriptors.
//  - If both are killed, nothing can thaw: the kernel keeps a filesystem frozen until FITHAW.
//
// The child runs in a copy of a multi-threaded process, so it calls only async-signal-safe system
// calls on memory prepared before fork(): no malloc, no locks, no C++ runtime.
//
// A snapshot command is started before the freeze, not inside it: process creation and the
// shell's start-up would otherwise lengthen the window in which writes are blocked. It waits on a
// gate (a pipe at its descriptor 3) and the watchdog opens the gate with one byte right after
// FIFREEZE; if the freeze fails, or the watchdog dies first, the gate closes without a byte and
// the command must not act. It runs in a process group of its own, which is killed before the
// thaw whenever it has not finished.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/queue.h"
#include "posix/posix.h"

namespace mbam {
namespace {

enum Reason : int32_t { kRequested = 1, kDeadline = 2, kOwnerGone = 3, kFreezeFailed = 4, kCommandDone = 5, kSignalled = 6 };

// How long after the deadline the owner thaws by itself when the watchdog has not reported a
// thaw. A running watchdog thaws within milliseconds of its deadline; this covers one that is
// stopped (SIGSTOP) or starved, and keeps the worst case within the deadline + 1 s.
constexpr int64_t kOwnerMarginMs = 500;

struct StartReport {   // child -> owner, before freezing
  int32_t commandPid;  // the snapshot command's process group, 0 when there is none
  int32_t unused;
};
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
  int32_t signal;         // the signal that made the watchdog thaw (kSignalled)
  int32_t unused;
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
  bool prepared = false;
};

void CloseGate(Command* cmd) {
  for (int& fd : cmd->gate) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

void DestroyCommand(Command* cmd) {
  if (cmd->prepared) {
    posix_spawn_file_actions_destroy(&cmd->actions);
    posix_spawnattr_destroy(&cmd->attr);
  }
  CloseGate(cmd);
  delete cmd;
}

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

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int PollMs(int64_t ms) { return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ms, 0x7fffffff))); }

ThawReport ThawAll(const int* fds, int count, int32_t reason) {
  ThawReport r{reason, 0, 0, -1, 0, 0, 0};
  // Thaw in reverse order of freezing.
  for (int i = count - 1; i >= 0; i--) {
    if (ioctl(fds[i], FITHAW, 0) != 0 && errno != EINVAL) {
      if (r.thawErrors++ == 0) r.firstError = errno;
    }
  }
  return r;
}

// The signals on which the watchdog thaws: every one it can catch, except those that do not ask
// a process to go away (SIGCHLD, SIGCONT, SIGWINCH, SIGURG), SIGPIPE (its owner's end of a pipe
// may be gone), and faults, which must keep their default action.
void ThawSignals(sigset_t* set) {
  sigemptyset(set);
  for (int s = 1; s < NSIG; s++) {
    switch (s) {
      case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGCONT: case SIGWINCH: case SIGURG: case SIGPIPE:
      case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS: case SIGABRT:
        continue;
      default:
        // glibc keeps two real-time signals for itself; sigaddset refuses them.
        sigaddset(set, s);
    }
  }
}

// Everything the child needs, prepared before fork().
struct ChildPlan {
  const int* fds;
  int count;
  int control;  // read end
  int status;   // write end
  int64_t deadlineMs;
  Command* cmd;
  const int* keep;  // descriptors the child keeps, sorted
  int keepCount;
  sigset_t thawSignals;
};

// Closes every descriptor of the owner the watchdog does not need: another guard's control pipe
// held here would hide that owner's death from its own watchdog, and the owner's stdout held here
// would keep whoever reads it waiting for the watchdog too.
void CloseOthers(const ChildPlan& p) {
  int next = 3;
  for (int i = 0; i <= p.keepCount; i++) {
    const int upto = i < p.keepCount ? p.keep[i] - 1 : 0x7fffffff;
    if (upto >= next) {
#ifdef SYS_close_range
      if (syscall(SYS_close_range, static_cast<unsigned>(next), static_cast<unsigned>(upto), 0) != 0)
#endif
      {
        for (int fd = next; fd <= std::min(upto, 65535); fd++) close(fd);
      }
    }
    if (i < p.keepCount) next = p.keep[i] + 1;
  }
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd = 0; fd < 3; fd++) {
      if (!std::binary_search(p.keep, p.keep + p.keepCount, fd)) dup2(null, fd);
    }
    if (null > 2) close(null);
  }
}

void KillCommand(pid_t* command, int* commandStatus) {
  if (*command <= 0) return;
  kill(-*command, SIGKILL);
  int st = 0;
  if (waitpid(*command, &st, 0) == *command && commandStatus) *commandStatus = WaitStatus(st);
  *command = -1;
}

[[noreturn]] void ChildMain(const ChildPlan& p) {
  // Out of the owner's process group and session: what is aimed at them does not reach here.
  setsid();
  CloseOthers(p);
  // Every signal is blocked since before fork(). Thaw signals are read from a signalfd, which
  // needs them blocked and not ignored; the handlers copied from the owner must never run here.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  }
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, nullptr);
  sigset_t faults;
  sigemptyset(&faults);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) sigaddset(&faults, s);
  sigprocmask(SIG_UNBLOCK, &faults, nullptr);
  const int sigfd = signalfd(-1, &p.thawSignals, SFD_CLOEXEC | SFD_NONBLOCK);

  // The snapshot command runs right here, and the thaw follows its exit at once: no round trip
  // through the owner stands between FIFREEZE, the snapshot and FITHAW.
  Command* cmd = p.cmd;
  pid_t command = -1;
  int pidfd = -1;
  if (cmd->present) {
    if (posix_spawn(&command, cmd->argv[0], &cmd->actions, &cmd->attr, cmd->argv.data(), cmd->envp.data()) != 0) command = -1;
    if (command > 0) pidfd = static_cast<int>(syscall(SYS_pidfd_open, command, 0));
    close(cmd->gate[0]);
  }
  // The owner learns the command's process group before anything is frozen, so that it can kill
  // the command if this process is killed; until the gate opens, this process's death closes the
  // gate and the command gives up by itself.
  const StartReport sr{command > 0 ? command : 0, 0};
  WriteAll(p.status, &sr, sizeof sr);

  const int64_t started = NowMs();
  FreezeReport fr{0, -1, 0};
  for (int i = 0; i < p.count; i++) {
    if (ioctl(p.fds[i], FIFREEZE, 0) != 0) {
      fr.failedIndex = i;
      fr.error = errno;
      break;
    }
    fr.frozen++;
  }
  if (fr.failedIndex >= 0) {
    ThawAll(p.fds, fr.frozen, kFreezeFailed);
    // The gate closes without a byte: the command must not snapshot a filesystem that is not frozen.
    if (cmd->present) close(cmd->gate[1]);
    KillCommand(&command, nullptr);
    WriteAll(p.status, &fr, sizeof fr);
    _exit(1);
  }
  const int64_t deadline = started + p.deadlineMs;
  if (cmd->present) {
    const char go = '\n';
    (void)WriteAll(cmd->gate[1], &go, 1);
    close(cmd->gate[1]);
  }
  WriteAll(p.status, &fr, sizeof fr);

  int32_t reason = kDeadline;
  int32_t signal = 0;
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
    struct pollfd fds[3] = {{p.control, POLLIN, 0}, {sigfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    // Without a pidfd (kernels before 5.3) the command is polled for every 5 ms.
    const int64_t slice = (command > 0 && pidfd < 0 && left > 5) ? 5 : left;
    const int n = poll(fds, 3, PollMs(slice));  // negative descriptors are skipped
    if (n < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        reason = kSignalled;
        signal = static_cast<int32_t>(si.ssi_signo);
        break;
      }
    }
    if (command > 0) {
      int st = 0;
      if (waitpid(command, &st, WNOHANG) == command) {
        commandStatus = WaitStatus(st);
        command = -1;
        reason = kCommandDone;
        break;
      }
    }
    if (fds[0].revents != 0) {
      char c;
      const ssize_t r = read(p.control, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      reason = r == 1 ? kRequested : kOwnerGone;
      break;
    }
  }
  // Still running at the deadline, on request, on a signal or with the owner gone: stop it first.
  KillCommand(&command, nullptr);
  ThawReport tr = ThawAll(p.fds, p.count, reason);
  tr.commandStatus = commandStatus;
  tr.signal = signal;
  tr.heldMs = NowMs() - started;
  WriteAll(p.status, &tr, sizeof tr);
  _exit(tr.thawErrors == 0 ? 0 : 2);
}

// One freeze, shared by its JavaScript object, the thread that watches the watchdog, and the
// workers that wait for it; freed when the last of them lets go.
struct Guard {
  std::vector<int> fds;
  std::vector<std::string> paths;
  int64_t deadlineMs = 0;
  int64_t forkedAt = 0;
  pid_t pid = -1;
  int status = -1;  // owner's read end

  std::mutex mu;
  std::condition_variable cv;
  // Under mu:
  int control = -1;  // owner's write end; closed once the watchdog is gone
  bool beginDone = false;
  bool frozen = false;  // the freeze succeeded (it may have ended since)
  bool ended = false;   // thawed, watchdog reaped, descriptors closed
  int beginError = 0;
  std::string beginOp, beginPath, beginMessage;
  ThawReport report{};
  const char* ownerReason = nullptr;  // set when the owner ended the freeze, not the watchdog

  ~Guard() {
    for (int fd : fds) close(fd);
    if (status >= 0) close(status);
    if (control >= 0) close(control);
  }
  // Asks the watchdog to thaw; harmless once it is gone.
  void RequestThaw() {
    std::lock_guard<std::mutex> lock(mu);
    if (control >= 0 && !ended) {
      const char c = 'T';
      (void)WriteAll(control, &c, 1);
    }
  }
};

enum class ReadResult { kOk, kEof, kLate };

ReadResult ReadBy(int fd, void* buf, size_t n, int64_t limit) {
  char* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < n) {
    // Past the limit, a report already in the pipe still counts (this process may have been the
    // one that was stopped); only silence is late.
    struct pollfd pfd = {fd, POLLIN, 0};
    const int k = poll(&pfd, 1, PollMs(limit - NowMs()));
    if (k < 0 && errno == EINTR) continue;
    if (k == 0) return ReadResult::kLate;
    const ssize_t r = read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return ReadResult::kEof;
    done += static_cast<size_t>(r);
  }
  return ReadResult::kOk;
}

// The owner's side, on a thread of its own so that neither a busy or hung event loop nor a full
// thread pool delays it: follows the watchdog's reports and ends the freeze itself when the
// watchdog dies or misses its deadline.
void Watch(std::shared_ptr<Guard> g) {
  const int64_t limit = g->forkedAt + g->deadlineMs + kOwnerMarginMs;
  StartReport sr{0, 0};
  FreezeReport fr{0, -1, 0};
  ThawReport tr{};
  ReadResult r = ReadBy(g->status, &sr, sizeof sr, limit);
  if (r == ReadResult::kOk) r = ReadBy(g->status, &fr, sizeof fr, limit);
  if (r == ReadResult::kOk) {
    std::lock_guard<std::mutex> lock(g->mu);
    g->beginDone = true;
    if (fr.failedIndex >= 0) {
      g->beginError = fr.error;
      g->beginOp = "FIFREEZE";
      g->beginPath = g->paths[static_cast<size_t>(fr.failedIndex)];
    } else {
      g->frozen = true;
    }
    g->cv.notify_all();
  }
  if (r == ReadResult::kOk && fr.failedIndex < 0) r = ReadBy(g->status, &tr, sizeof tr, limit);
  const char* ownerReason = nullptr;
  if (r != ReadResult::kOk) {
    // Dead (end-of-file) or stopped or stuck (late). It is not reaped yet, so its pid is still
    // ours to kill; once it is reaped, no FIFREEZE of it can still be running.
    kill(g->pid, SIGKILL);
    waitpid(g->pid, nullptr, 0);
    if (sr.commandPid > 0) kill(-sr.commandPid, SIGKILL);
    tr = ThawAll(g->fds.data(), static_cast<int>(g->fds.size()), kDeadline);
    tr.heldMs = NowMs() - g->forkedAt;
    ownerReason = r == ReadResult::kEof ? "watchdog-lost" : "watchdog-overdue";
  } else {
    waitpid(g->pid, nullptr, 0);
  }
  std::lock_guard<std::mutex> lock(g->mu);
  for (int fd : g->fds) close(fd);
  g->fds.clear();
  close(g->status);
  g->status = -1;
  if (g->control >= 0) close(g->control);
  g->control = -1;
  if (!g->beginDone) {
    g->beginDone = true;
    g->beginError = r == ReadResult::kEof ? ECHILD : ETIMEDOUT;
    g->beginMessage = r == ReadResult::kEof
        ? "the freeze watchdog died before it confirmed the freeze: mbam-vss killed the snapshot command and thawed"
        : "the freeze watchdog did not confirm the freeze by its deadline (stopped?): mbam-vss killed it and the snapshot command, and thawed";
  }
  g->report = tr;
  g->ownerReason = ownerReason;
  g->ended = true;
  g->cv.notify_all();
}

// A detached thread running Watch; false (errno set) when it cannot be created.
bool StartWatching(const std::shared_ptr<Guard>& g) {
  auto* arg = new std::shared_ptr<Guard>(g);
  pthread_t t;
  const int err = pthread_create(&t, nullptr, [](void* a) -> void* {
    std::unique_ptr<std::shared_ptr<Guard>> p(static_cast<std::shared_ptr<Guard>*>(a));
    Watch(*p);
    return nullptr;
  }, arg);
  if (err != 0) {
    delete arg;
    errno = err;
    return false;
  }
  pthread_detach(t);
  return true;
}

const char* SignalName(int s) {
  switch (s) {
#define MBAM_SIGNAL(x) case x: return #x;
    MBAM_SIGNAL(SIGHUP) MBAM_SIGNAL(SIGINT) MBAM_SIGNAL(SIGQUIT) MBAM_SIGNAL(SIGTERM) MBAM_SIGNAL(SIGTSTP)
    MBAM_SIGNAL(SIGTTIN) MBAM_SIGNAL(SIGTTOU) MBAM_SIGNAL(SIGUSR1) MBAM_SIGNAL(SIGUSR2) MBAM_SIGNAL(SIGALRM)
    MBAM_SIGNAL(SIGVTALRM) MBAM_SIGNAL(SIGPROF) MBAM_SIGNAL(SIGXCPU) MBAM_SIGNAL(SIGXFSZ) MBAM_SIGNAL(SIGPWR)
#undef MBAM_SIGNAL
    default: return nullptr;
  }
}

Napi::Object ReportObject(Napi::Env env, const ThawReport& r, const char* ownerReason) {
  Napi::Object o = Napi::Object::New(env);
  const char* reason = ownerReason ? ownerReason
                       : r.reason == kRequested ? "requested"
                       : r.reason == kDeadline ? "deadline"
                       : r.reason == kCommandDone ? "command-done"
                       : r.reason == kSignalled ? "signalled"
                       : "owner-gone";
  o.Set("reason", reason);
  o.Set("commandStatus", r.commandStatus);
  o.Set("heldMs", static_cast<double>(r.heldMs));
  o.Set("thawErrors", r.thawErrors);
  if (r.thawErrors) {
    const char* name = ErrnoName(r.firstError);
    o.Set("firstError", name ? name : "EIO");
  }
  if (r.reason == kSignalled && !ownerReason) {
    const char* name = SignalName(r.signal);
    o.Set("signal", name ? std::string(name) : "SIG" + std::to_string(r.signal));
  }
  return o;
}

// The JavaScript face of one freeze: { pid, end(request) }. Collected without end(), it asks the
// watchdog to thaw (the watching thread still reaps it and closes the descriptors).
class GuardWrap : public Napi::ObjectWrap<GuardWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FreezeGuard", {InstanceAccessor("pid", &GuardWrap::Pid, nullptr), InstanceMethod("end", &GuardWrap::End)});
  }
  // Only freezeBegin makes them: it hands the guard over through this slot (on the JS thread).
  static thread_local std::shared_ptr<Guard>* handover;

  explicit GuardWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GuardWrap>(info) {
    if (handover == nullptr) {
      Napi::TypeError::New(info.Env(), "FreezeGuard objects come from freezeBegin()").ThrowAsJavaScriptException();
      return;
    }
    guard_ = std::move(*handover);
    handover = nullptr;
  }
  ~GuardWrap() override {
    if (guard_) guard_->RequestThaw();
  }

 private:
  Napi::Value Pid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), guard_ ? guard_->pid : -1); }
  Napi::Value End(const Napi::CallbackInfo& info);
  std::shared_ptr<Guard> guard_;
};
thread_local std::shared_ptr<Guard>* GuardWrap::handover = nullptr;

class EndWorker : public Napi::AsyncWorker {
 public:
  // request=false waits for the watchdog to thaw by itself (command done, or deadline).
  // Holds the JavaScript object too: collecting it while someone waits would ask for a thaw.
  EndWorker(Napi::Env env, Napi::Object self, std::shared_ptr<Guard> g, bool request)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), self_(Napi::Persistent(self)), g_(std::move(g)), request_(request) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (request_) g_->RequestThaw();
    std::unique_lock<std::mutex> lock(g_->mu);
    g_->cv.wait(lock, [&] { return g_->ended; });
    report_ = g_->report;
    ownerReason_ = g_->ownerReason;
  }
  void OnOK() override { deferred_.Resolve(ReportObject(Env(), report_, ownerReason_)); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  std::shared_ptr<Guard> g_;
  bool request_;
  ThawReport report_{};
  const char* ownerReason_ = nullptr;
};

Napi::Value GuardWrap::End(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && !info[0].IsBoolean() && !info[0].IsUndefined()) {
    Napi::TypeError::New(env, "FreezeGuard.end(request?: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!guard_) {
    Napi::Error::New(env, "FreezeGuard.end: not a guard from freezeBegin()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool request = !(info.Length() > 0 && info[0].IsBoolean() && !info[0].As<Napi::Boolean>().Value());
  return QueueWorker<EndWorker>(env, info.This().As<Napi::Object>(), guard_, request);
}

class BeginWorker : public Napi::AsyncWorker {
 public:
  BeginWorker(Napi::Env env, Napi::FunctionReference* ctor, std::vector<std::string> paths, int64_t deadlineMs, Command* cmd)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), ctor_(ctor), guard_(std::make_shared<Guard>()), cmd_(cmd) {
    guard_->paths = std::move(paths);
    guard_->deadlineMs = deadlineMs;
  }
  ~BeginWorker() override { DestroyCommand(cmd_); }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Guard* g = guard_.get();
    for (const std::string& p : g->paths) {
      const int fd = open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Fail(errno, "open", p);
      g->fds.push_back(fd);
    }
    int control[2], status[2];
    if (pipe2(control, O_CLOEXEC) != 0) return Fail(errno, "pipe2", "");
    if (pipe2(status, O_CLOEXEC) != 0) {
      const int err = errno;
      close(control[0]);
      close(control[1]);
      return Fail(err, "pipe2", "");
    }
    std::vector<int> keep(g->fds);
    keep.push_back(control[0]);
    keep.push_back(status[1]);
    for (int fd : cmd_->gate) if (fd >= 0) keep.push_back(fd);
    std::sort(keep.begin(), keep.end());
    ChildPlan plan{g->fds.data(), static_cast<int>(g->fds.size()), control[0], status[1], g->deadlineMs, cmd_, keep.data(), static_cast<int>(keep.size()), {}};
    ThawSignals(&plan.thawSignals);
    // The child starts with every signal blocked, so that none arrives before it is ready to turn
    // it into a thaw (and none runs a handler copied from this process).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    g->forkedAt = NowMs();
    const pid_t pid = fork();
    const int forkErr = errno;
    if (pid == 0) ChildMain(plan);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    close(control[0]);
    close(status[1]);
    if (pid < 0) {
      close(control[1]);
      close(status[0]);
      return Fail(forkErr, "fork", "");
    }
    // Only the watchdog and the command may hold the gate, or its end-of-file would never come.
    CloseGate(cmd_);
    g->pid = pid;
    g->status = status[0];
    {
      std::lock_guard<std::mutex> lock(g->mu);
      g->control = control[1];
    }
    if (!StartWatching(guard_)) {
      // Without the watching thread nobody here could thaw: end it all now, before anything is
      // reported as frozen.
      const int err = errno;
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      ThawAll(g->fds.data(), static_cast<int>(g->fds.size()), kDeadline);
      return Fail(err, "pthread_create", "");
    }
    std::unique_lock<std::mutex> lock(g->mu);
    g->cv.wait(lock, [&] { return g->beginDone; });
    if (!g->frozen) {
      // The watching thread thaws whatever froze; wait for it, so that a failed freezeBegin
      // leaves nothing frozen behind.
      g->cv.wait(lock, [&] { return g->ended; });
      message_ = g->beginMessage;
      return Fail(g->beginError, g->beginOp.c_str(), g->beginPath);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    GuardWrap::handover = &guard_;
    Napi::Object o = ctor_->New({});
    GuardWrap::handover = nullptr;
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
      return;
    }
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override {
    if (message_.empty()) return deferred_.Reject(ErrnoError(Env(), err_, op_, path_).Value());
    Napi::Error e = Napi::Error::New(Env(), message_);
    e.Value().Set("errno", Napi::Number::New(Env(), err_));
    const char* code = ErrnoName(err_);
    e.Value().Set("code", code ? code : "EIO");
    deferred_.Reject(e.Value());
  }

 private:
  void Fail(int err, const char* op, const std::string& path) {
    err_ = err;
    op_ = op;
    path_ = path;
    SetError(op);
  }
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference* ctor_;
  std::shared_ptr<Guard> guard_;
  Command* cmd_;
  int err_ = 0;
  std::string op_, path_, message_;
};

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// Reads an array of strings without NUL bytes, or throws a TypeError naming `field`.
bool StringArray(Napi::Env env, Napi::Value v, const char* field, std::vector<std::string>* out) {
  if (!v.IsArray()) {
    Napi::TypeError::New(env, std::string("freezeBegin: ") + field + " must be an array of strings").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) {
      Napi::TypeError::New(env, std::string("freezeBegin: ") + field + "[" + std::to_string(i) + "] must be a string").ThrowAsJavaScriptException();
      return false;
    }
    out->push_back(e.As<Napi::String>().Utf8Value());
    if (HasNul(out->back())) {
      Napi::TypeError::New(env, std::string("freezeBegin: ") + field + "[" + std::to_string(i) + "] contains a NUL byte").ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

// { argv: string[] (argv[0] an absolute path), env: string[], output: string (absolute path) }.
// The program waits for a byte on its descriptor 3 before it acts (see the gate, above).
Command* ParseCommand(Napi::Env env, Napi::Value v) {
  auto* cmd = new Command();
  if (v.IsUndefined() || v.IsNull()) return cmd;
  auto fail = [&](const std::string& message) -> Command* {
    Napi::TypeError::New(env, "freezeBegin: command." + message).ThrowAsJavaScriptException();
    delete cmd;
    return nullptr;
  };
  if (!v.IsObject() || v.IsArray()) {
    Napi::TypeError::New(env, "freezeBegin: command must be { argv: string[], env: string[], output: string }").ThrowAsJavaScriptException();
    delete cmd;
    return nullptr;
  }
  Napi::Object c = v.As<Napi::Object>();
  if (!StringArray(env, c.Get("argv"), "command.argv", &cmd->argvStore) || !StringArray(env, c.Get("env"), "command.env", &cmd->envStore)) {
    delete cmd;
    return nullptr;
  }
  if (cmd->argvStore.empty()) return fail("argv must name the program");
  if (cmd->argvStore[0].empty() || cmd->argvStore[0][0] != '/') return fail("argv[0] must be an absolute path");
  Napi::Value out = c.Get("output");
  if (!out.IsString()) return fail("output must be a string");
  const std::string output = out.As<Napi::String>().Utf8Value();
  if (output.empty() || output[0] != '/' || HasNul(output)) return fail("output must be an absolute path without NUL bytes");

  for (auto& a : cmd->argvStore) cmd->argv.push_back(&a[0]);
  cmd->argv.push_back(nullptr);
  for (auto& e : cmd->envStore) cmd->envp.push_back(&e[0]);
  cmd->envp.push_back(nullptr);
  if (pipe2(cmd->gate, O_CLOEXEC) != 0) {
    const int err = errno;
    delete cmd;
    ErrnoError(env, err, "pipe2", "").ThrowAsJavaScriptException();
    return nullptr;
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
  // Its own process group, so that one kill reaches everything it started.
  posix_spawnattr_setpgroup(&cmd->attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&cmd->attr, &none);
  posix_spawnattr_setsigdefault(&cmd->attr, &all);
  posix_spawnattr_setflags(&cmd->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  cmd->prepared = true;
  cmd->present = true;
  return cmd;
}

// freezeBegin(mountPoints: string[], deadlineMs: number, command?: {...}): Promise<FreezeGuard>
Napi::Value FreezeBegin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
  std::vector<std::string> paths;
  if (info.Length() < 1 || !StringArray(env, info[0], "mountPoints", &paths)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "freezeBegin(mountPoints: string[], deadlineMs: number, command?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double deadline = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (paths.empty() || !(deadline >= 1 && deadline <= 24.0 * 3600 * 1000)) {
    Napi::RangeError::New(env, "freezeBegin: at least one mount point and a deadline of 1 ms to 24 h").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Command* cmd = ParseCommand(env, info.Length() > 2 ? info[2] : env.Undefined());
  if (cmd == nullptr) return env.Undefined();
  return QueueWorker<BeginWorker>(env, ctor, std::move(paths), static_cast<int64_t>(deadline), cmd);
}

}  // namespace

void RegisterFreezeGuard(Napi::Env env, Napi::Object exports) {
  // The class is kept per environment in the function's data (worker threads each load the addon).
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(GuardWrap::Define(env)));
  env.AddCleanupHook([ctor]() { delete ctor; });
  exports.Set("freezeBegin", Napi::Function::New(env, FreezeBegin, "freezeBegin", ctor));
}

}  // namespace mbam
