// The hosted writer: a CVssWriter-compatible object (win/cvsswriter_abi.h) whose On* handlers reach
// TypeScript through the event bridge. Built with MinGW-w64 here and with MSVC on Windows; both use
// the Microsoft x64 calling convention.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/event_bridge.h"
#include "common/live_objects.h"
#include "common/queue.h"
#include "win/com_worker.h"
#include "win/cvsswriter_abi.h"
#include "win/vss_api.h"
#include "win/win.h"
#include "win/writer_spec.h"

namespace mbam {
namespace win {
namespace {

struct HostOptions {
  WriterSpec spec;
  std::wstring instanceName;
  bool hasInstanceName = false;
  int source = VSS_ST_OTHER, level = VSS_APP_FRONT_END;
  uint32_t freezeTimeoutMs = 60000, eventTimeoutMs = 300000;
};

// JSON string literal (the payload the bridge carries to TypeScript).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

class HostedVssWriter final : public VssWriterAbi {
 public:
  HostedVssWriter(std::shared_ptr<EventBridge> bridge, HostOptions o) : bridge_(std::move(bridge)), o_(std::move(o)) {}

  HRESULT Subscribe(CreateWriterFn create, std::string* what) {
    // The subscribing thread leaves the MTA when its worker ends; the writer needs it for its life.
    HRESULT hr = mta_.Acquire();
    if (FAILED(hr)) return *what = "CoIncrementMTAUsage", hr;
    hr = create(this, &m_pWriterImpl);
    if (FAILED(hr)) return *what = "CreateWriter", hr;
    // As the SDK's inline CVssWriter::Initialize calls it: the instance name third, versions 0.0
    // (only CVssWriterEx::InitializeEx, with CreateWriterEx, passes versions).
    hr = m_pWriterImpl->Initialize(o_.spec.writerId, o_.spec.name.c_str(), OrNull(o_.instanceName, o_.hasInstanceName), 0, 0,
                                   static_cast<VSS_USAGE_TYPE>(o_.spec.usage), static_cast<VSS_SOURCE_TYPE>(o_.source),
                                   static_cast<VSS_APPLICATION_LEVEL>(o_.level), o_.freezeTimeoutMs, VSS_AWS_NO_ALTERNATE_WRITER, false);
    if (FAILED(hr)) return *what = "IVssWriterImpl::Initialize", hr;
    hr = m_pWriterImpl->Subscribe(0, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG);
    if (FAILED(hr)) return *what = "IVssWriterImpl::Subscribe", hr;
    return S_OK;
  }

  // Order matters (an event may be in flight, or arrive, while this runs): first the bridge fails
  // its waiters and refuses new events, so a handler that VSS is waiting on returns at once
  // (vetoing RETRYABLE) instead of after its deadline; then VSS unsubscribes, which waits for the
  // events it is delivering; then nothing is released until no handler of this object still runs.
  void Unsubscribe() {
    closing_ = true;
    bridge_->Shutdown();
    if (m_pWriterImpl != nullptr) m_pWriterImpl->Unsubscribe();
    {
      std::unique_lock<std::mutex> lock(m_);
      drained_ = idle_.wait_for(lock, std::chrono::seconds(60), [&] { return inFlight_ == 0; });
    }
    if (m_pWriterImpl != nullptr && drained_) {
      m_pWriterImpl->Uninitialize();
      m_pWriterImpl->Release();
      m_pWriterImpl = nullptr;
    }
    mta_.Release();
  }
  // A handler still running after Unsubscribe (VSS did not wait for it) must not find this object
  // freed: then it is leaked on purpose.
  bool Drained() const { return drained_; }

  // HostWrap unsubscribes in the MTA before its last reference goes; this covers a writer left
  // subscribed any other way. One never subscribed has nothing to undo (and its bridge is not
  // this object's to shut).
  ~HostedVssWriter() {
    if (!closing_ && m_pWriterImpl != nullptr) Unsubscribe();
  }

  // VSS may not be failed from OnIdentify; the metadata comes from the TypeScript model.
  bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* md) override {
    InFlight guard(this);
    std::string what;
    const bool ok = SUCCEEDED(ApplySpec(md, o_.spec, &what));
    if (!closing_) bridge_->Dispatch("Identify", "{}", 0);  // tell TypeScript, without waiting
    return ok;
  }
  bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents* c) override {
    BeginSnapshotPhase();
    return Deliver("PrepareForBackup", o_.eventTimeoutMs, kBackupEvent, c, true);
  }
  bool STDMETHODCALLTYPE OnPrepareSnapshot() override {
    BeginSnapshotPhase();
    return Deliver("PrepareForSnapshot", o_.eventTimeoutMs, kBackupEvent);
  }
  bool STDMETHODCALLTYPE OnFreeze() override { return Deliver("Freeze", o_.freezeTimeoutMs, kBackupEvent); }
  bool STDMETHODCALLTYPE OnThaw() override { return Deliver("Thaw", o_.freezeTimeoutMs, kBackupEvent); }
  bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents* c) override {
    const bool ok = Deliver("PostSnapshot", o_.eventTimeoutMs, kBackupEvent, c, true);
    std::lock_guard<std::mutex> lock(m_);
    postSnapshotDone_ = true;
    return ok;
  }
  // An abort cannot be vetoed; the handler's outcome is not reported.
  bool STDMETHODCALLTYPE OnAbort() override {
    InFlight guard(this);
    if (!closing_) bridge_->Dispatch("Abort", Context(kBackupEvent, nullptr, false), o_.eventTimeoutMs);
    return true;
  }
  bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents* c) override { return Deliver("BackupComplete", o_.eventTimeoutMs, kBackupEvent, c, true); }
  bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID snapshotSetId) override {
    InFlight guard(this);
    return Answer("BackupShutdown", o_.eventTimeoutMs, "{\"snapshotSetId\":\"" + FormatGuid(snapshotSetId) + "\"}");
  }
  bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents* c) override { return Deliver("PreRestore", o_.eventTimeoutMs, kRestoreEvent, c, true); }
  bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents* c) override { return Deliver("PostRestore", o_.eventTimeoutMs, kRestoreEvent, c, true); }

 private:
  struct InFlight {
    explicit InFlight(HostedVssWriter* w) : w_(w) {
      std::lock_guard<std::mutex> lock(w_->m_);
      ++w_->inFlight_;
    }
    ~InFlight() {
      std::lock_guard<std::mutex> lock(w_->m_);
      if (--w_->inFlight_ == 0) w_->idle_.notify_all();
    }
    HostedVssWriter* w_;
  };

  // CVssWriter::GetCurrentSnapshotSetId "cannot be called after CVssWriter::OnPostSnapshot
  // returns", gives an id that "could be that of another backup operation" in OnBackupShutdown,
  // and an unpredictable one outside a backup sequence. So it is asked only from PrepareForBackup
  // up to PostSnapshot; BackupComplete (and an Abort after PostSnapshot) get the id this backup
  // was given then, BackupShutdown its argument, and restore events none (no snapshot set).
  enum EventKind { kBackupEvent, kRestoreEvent };
  void BeginSnapshotPhase() {
    std::lock_guard<std::mutex> lock(m_);
    postSnapshotDone_ = false;
  }
  std::string SnapshotSetId(EventKind kind) {
    if (kind != kBackupEvent) return std::string();
    {
      std::lock_guard<std::mutex> lock(m_);
      if (postSnapshotDone_) return setId_;
    }
    std::string id = FormatGuid(m_pWriterImpl->GetCurrentSnapshotSetId());  // not under m_: a call into VSS
    std::lock_guard<std::mutex> lock(m_);
    return setId_ = std::move(id);
  }

  // What the handlers get to decide with: the snapshot set, the backup type, and which of this
  // writer's components the requester selected, with IVssComponent::GetBackupSucceeded (which
  // the requester sets before BackupComplete). Read on the event's own thread, as VSS requires.
  std::string Context(EventKind kind, IVssWriterComponents* components, bool withComponents) {
    std::string j = "{";
    if (m_pWriterImpl != nullptr) {
      const std::string setId = SnapshotSetId(kind);
      if (!setId.empty()) j += "\"snapshotSetId\":\"" + setId + "\",";
      j += "\"backupType\":" + std::to_string(static_cast<int>(m_pWriterImpl->GetBackupType()));
      j += ",\"restoreType\":" + std::to_string(static_cast<int>(m_pWriterImpl->GetRestoreType()));
      j += std::string(",\"componentsSelected\":") + (m_pWriterImpl->AreComponentsSelected() ? "true" : "false");
    }
    if (withComponents) {
      j += std::string(j.size() > 1 ? "," : "") + "\"components\":[";
      UINT n = 0;
      if (components != nullptr && SUCCEEDED(components->GetComponentCount(&n))) {
        for (UINT i = 0; i < n; i++) {
          IVssComponent* c = nullptr;
          if (FAILED(components->GetComponent(i, &c)) || c == nullptr) continue;
          Bstr lp, name;
          boolean succeeded = false;
          c->GetLogicalPath(lp.Out());
          c->GetComponentName(name.Out());
          const bool known = SUCCEEDED(c->GetBackupSucceeded(&succeeded));
          c->Release();
          if (i > 0 && j.back() != '[') j += ",";
          j += "{\"logicalPath\":" + (lp.Get() ? JsonString(WideToUtf8(lp.Str())) : std::string("null"));
          j += ",\"componentName\":" + JsonString(WideToUtf8(name.Str()));
          j += std::string(",\"backupSucceeded\":") + (known ? (succeeded ? "true" : "false") : "null") + "}";
        }
      }
      j += "]";
    }
    return j + "}";
  }

  bool Deliver(const char* event, uint32_t timeoutMs, EventKind kind, IVssWriterComponents* components = nullptr, bool withComponents = false) {
    InFlight guard(this);
    // During Unsubscribe the event is answered RETRYABLE without asking VSS anything.
    return Answer(event, timeoutMs, closing_ ? std::string() : Context(kind, components, withComponents));
  }

  // Runs on the VSS thread that delivered the event: SetWriterFailure must be called here.
  bool Answer(const char* event, uint32_t timeoutMs, const std::string& payload) {
    const uint32_t hr = closing_ ? kWriterRetryable : bridge_->Dispatch(event, payload, timeoutMs);
    if (hr == 0) return true;
    if (m_pWriterImpl != nullptr) m_pWriterImpl->SetWriterFailure(static_cast<HRESULT>(hr));
    return false;
  }

  std::shared_ptr<EventBridge> bridge_;
  HostOptions o_;
  MtaUsage mta_;
  std::atomic<bool> closing_{false};
  bool drained_ = true;
  std::mutex m_;
  std::condition_variable idle_;
  int inFlight_ = 0;
  // The current backup's snapshot set id, and whether its PostSnapshot has returned (under m_).
  std::string setId_;
  bool postSnapshotDone_ = false;
  LiveCounted<LiveKind::kHostedWriter> live_;
};

// A writer a VSS callback still runs in after Unsubscribe waited its 60 s (VSS did not wait for
// it) must never be freed under it: this reference is never released. liveObjects() keeps
// counting it, which is the truth.
void LeakOnPurpose(const std::shared_ptr<HostedVssWriter>& host) { new std::shared_ptr<HostedVssWriter>(host); }

// The JS object of one hosted writer. It owns the native writer (shared with a subscribe or
// unsubscribe in progress, whose worker thread uses it). While subscribed it holds a strong
// reference to itself, because VSS may call the writer at any time: it stays alive until its
// Unsubscribe has completed (bridge shut, VSS unsubscribed, no callback running, MTA released).
// unsubscribe() ends that and frees the native writer at once (unless a callback is stuck in
// it: then it is leaked on purpose); an object never subscribed, unsubscribed, or whose subscribe
// failed, is freed when collected. Every free happens on the JS thread (the writer holds the
// event bridge, which must be released there).
class HostWrap : public Napi::ObjectWrap<HostWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HostedWriterHost", {InstanceMethod("subscribe", &HostWrap::Subscribe), InstanceMethod("unsubscribe", &HostWrap::Unsubscribe)});
  }

  // new HostedWriterHost(bridge, spec, { instanceName?, source, level, freezeTimeoutMs, eventTimeoutMs })
  explicit HostWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HostWrap>(info) {
    Napi::Env env = info.Env();
    std::shared_ptr<EventBridge> bridge = info.Length() > 0 ? UnwrapBridge(info[0]) : nullptr;
    HostOptions o;
    std::string error;
    if (!bridge || info.Length() < 3 || !info[2].IsObject() || !ReadSpec(env, info[1], &o.spec, &error)) {
      Napi::TypeError::New(env, "new HostedWriterHost(bridge: EventBridge, spec, options): " + error).ThrowAsJavaScriptException();
      return;
    }
    Napi::Object opts = info[2].As<Napi::Object>();
    const auto num = [&](const char* k, uint32_t d) { Napi::Value v = opts.Get(k); return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : d; };
    o.source = static_cast<int>(num("source", VSS_ST_OTHER));
    o.level = static_cast<int>(num("level", VSS_APP_FRONT_END));
    o.freezeTimeoutMs = num("freezeTimeoutMs", 60000);
    o.eventTimeoutMs = num("eventTimeoutMs", 300000);
    if (opts.Get("instanceName").IsString()) {
      o.instanceName = Utf8ToWide(opts.Get("instanceName").As<Napi::String>().Utf8Value());
      o.hasInstanceName = true;
    }
    host_ = std::make_shared<HostedVssWriter>(std::move(bridge), std::move(o));
  }

  // Only reachable while not subscribed (the self-reference) or at environment teardown: then the
  // writer is unsubscribed on a thread of its own in the MTA, never with COM on the JS thread.
  ~HostWrap() override {
    if (subscribed_ && host_) {
      std::shared_ptr<HostedVssWriter> host = host_;
      std::thread([host] {
        Apartment apartment;
        host->Unsubscribe();
      }).join();
      if (!host->Drained()) LeakOnPurpose(host);
    }
  }

  void Subscribed(bool on) {
    busy_ = false;
    if (on == subscribed_) return;
    subscribed_ = on;
    if (on) {
      Ref();
    } else {
      Unref();
      host_.reset();  // ended: nothing may subscribe it again, and its memory goes now
    }
  }
  // A failed subscribe ended the writer (its partial subscription undone, its bridge shut): it
  // cannot be subscribed again, and is freed when collected.
  void Failed() {
    busy_ = false;
    ended_ = true;
  }

 private:
  Napi::Value Subscribe(const Napi::CallbackInfo& info);
  Napi::Value Unsubscribe(const Napi::CallbackInfo& info);
  static Napi::Value Resolved(Napi::Env env) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }

  std::shared_ptr<HostedVssWriter> host_;
  bool subscribed_ = false;
  bool busy_ = false;
  bool ended_ = false;
};

// Both workers keep the JS object alive while they run and report back to it on the JS thread.
class HostWorker : public ComWorker {
 public:
  HostWorker(Napi::Env env, HostWrap* wrap, std::shared_ptr<HostedVssWriter> host)
      : ComWorker(env), self_(Napi::Persistent(wrap->Value())), wrap_(wrap), host_(std::move(host)) {}

 protected:
  Napi::ObjectReference self_;
  HostWrap* wrap_;
  std::shared_ptr<HostedVssWriter> host_;
};

class SubscribeWorker : public HostWorker {
 public:
  using HostWorker::HostWorker;
  ~SubscribeWorker() override {
    if (!done_) wrap_->Failed();
  }

 protected:
  void Run() override {
    CreateWriterFn create = nullptr;
    std::string why;
    if (Fail(ResolveCreateWriter(&create, &why), why)) return;
    std::string what;
    if (!Fail(host_->Subscribe(create, &what), what)) return;
    host_->Unsubscribe();  // undo a partial subscription, here in the MTA
    if (!host_->Drained()) LeakOnPurpose(host_);
  }
  Napi::Value Result(Napi::Env env) override {
    done_ = true;
    wrap_->Subscribed(true);
    return env.Undefined();
  }

 private:
  bool done_ = false;
};

class UnsubscribeWorker : public HostWorker {
 public:
  using HostWorker::HostWorker;

 protected:
  void Run() override {
    host_->Unsubscribe();
    if (!host_->Drained()) LeakOnPurpose(host_);
  }
  Napi::Value Result(Napi::Env env) override {
    wrap_->Subscribed(false);
    return env.Undefined();
  }
};

Napi::Value HostWrap::Subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (subscribed_) return Resolved(env);
  if (busy_ || !host_ || ended_) {
    Napi::Error::New(env, busy_ ? "HostedWriterHost.subscribe: a subscribe or unsubscribe is in progress" : "HostedWriterHost.subscribe: this writer was unsubscribed, or its subscribe failed; create a new one")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  busy_ = true;
  return QueueWorker<SubscribeWorker>(env, this, host_);
}

Napi::Value HostWrap::Unsubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!subscribed_) return Resolved(env);
  if (busy_) {
    Napi::Error::New(env, "HostedWriterHost.unsubscribe: a subscribe or unsubscribe is in progress").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  busy_ = true;
  return QueueWorker<UnsubscribeWorker>(env, this, host_);
}

// comDiagnostics() -> { apartment, qualifier, hr, exceptionHandling }: what a thread that never
// called CoInitializeEx finds (APTTYPE_MTA = 1 with the implicit-MTA qualifier while a writer
// holds the MTA; CO_E_NOTINITIALIZED when there is none), and COM's exception handling setting.
// Diagnostics for `doctor` and the tests; the probe runs on a thread of its own.
Napi::Value ComDiagnostics(const Napi::CallbackInfo& info) {
  struct Probe {
    HRESULT hr = E_FAIL;
    APTTYPE type = APTTYPE_CURRENT;
    APTTYPEQUALIFIER qualifier = APTTYPEQUALIFIER_NONE;
    int exceptionHandling = -1;
  } probe;
  HANDLE t = CreateThread(nullptr, 0, [](void* p) -> DWORD {
    auto* r = static_cast<Probe*>(p);
    r->hr = CoGetApartmentType(&r->type, &r->qualifier);
    if (SUCCEEDED(r->hr)) r->exceptionHandling = ComExceptionHandling();
    return 0;
  }, &probe, 0, nullptr);
  if (t != nullptr) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
  }
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hr", Napi::Number::New(env, static_cast<uint32_t>(probe.hr)));
  o.Set("apartment", Napi::Number::New(env, SUCCEEDED(probe.hr) ? static_cast<int>(probe.type) : -1));
  o.Set("qualifier", Napi::Number::New(env, SUCCEEDED(probe.hr) ? static_cast<int>(probe.qualifier) : -1));
  o.Set("exceptionHandling", Napi::Number::New(env, probe.exceptionHandling));
  return o;
}

}  // namespace

void RegisterHostedWriterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("HostedWriterHost", HostWrap::Define(env));
  exports.Set("comDiagnostics", Napi::Function::New(env, ComDiagnostics, "comDiagnostics"));
}

}  // namespace win
}  // namespace mbam
