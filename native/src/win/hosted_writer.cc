// The hosted writer: a CVssWriter-compatible object whose On* handlers reach TypeScript through
// the event bridge. VSS (vssapi.dll, built with MSVC) calls the writer through CVssWriter's
// vtable, so the object must have that exact layout:
//  - MSVC gives CVssWriter's virtual destructor ONE vtable slot (the scalar deleting destructor);
//    g++ would give a virtual destructor two, shifting every handler by one. So there is no
//    virtual destructor here: a placeholder virtual takes MSVC's slot, and VSS never deletes a
//    writer (its owner does, through the concrete type).
//  - then the handlers in the Windows SDK's declaration order, then IVssWriterImpl* m_pWriterImpl.
// Built with MinGW-w64 here and with MSVC on Windows; both use the Microsoft x64 calling convention.
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/event_bridge.h"
#include "common/live_objects.h"
#include "common/queue.h"
#include "win/com_worker.h"
#include "win/vss_api.h"
#include "win/win.h"
#include "win/writer_spec.h"

namespace mbam {
namespace win {
namespace {

class VssWriterAbi {
 public:
  virtual void STDMETHODCALLTYPE MsvcDestructorSlot(unsigned int /*flags*/) {}
  virtual bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* /*metadata*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareSnapshot() = 0;
  virtual bool STDMETHODCALLTYPE OnFreeze() = 0;
  virtual bool STDMETHODCALLTYPE OnThaw() = 0;
  virtual bool STDMETHODCALLTYPE OnAbort() = 0;
  virtual bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID /*snapshotSetId*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnBackOffIOOnVolume(VSS_PWSZ, VSS_ID, VSS_ID) { return true; }
  virtual bool STDMETHODCALLTYPE OnContinueIOOnVolume(VSS_PWSZ, VSS_ID, VSS_ID) { return true; }
  virtual bool STDMETHODCALLTYPE OnVSSShutdown() { return true; }
  virtual bool STDMETHODCALLTYPE OnVSSApplicationStartup() { return true; }

 protected:
  VssWriterAbi() = default;
  ~VssWriterAbi() = default;  // deliberately not virtual: see above
  IVssWriterImpl* m_pWriterImpl = nullptr;
};

// vptr + m_pWriterImpl, as the SDK's CVssWriter.
static_assert(sizeof(VssWriterAbi) == 2 * sizeof(void*), "CVssWriter layout: vtable pointer then IVssWriterImpl*");

// The SDK's inline CVssWriter::Initialize calls this export of vssapi.dll.
using CreateWriterFn = HRESULT(STDAPICALLTYPE*)(VssWriterAbi*, IVssWriterImpl**);

struct HostOptions {
  WriterSpec spec;
  std::wstring instanceName;
  bool hasInstanceName = false;
  int source = VSS_ST_OTHER, level = VSS_APP_FRONT_END;
  uint32_t freezeTimeoutMs = 60000, eventTimeoutMs = 300000;
};

class HostedVssWriter final : public VssWriterAbi {
 public:
  HostedVssWriter(std::shared_ptr<EventBridge> bridge, HostOptions o) : bridge_(std::move(bridge)), o_(std::move(o)) {}

  HRESULT Subscribe(CreateWriterFn create, std::string* what) {
    HRESULT hr = create(this, &m_pWriterImpl);
    if (FAILED(hr)) return *what = "CreateWriter", hr;
    hr = m_pWriterImpl->Initialize(o_.spec.writerId, o_.spec.name.c_str(), OrNull(o_.instanceName, o_.hasInstanceName), o_.spec.major,
                                   o_.spec.minor, static_cast<VSS_USAGE_TYPE>(o_.spec.usage), static_cast<VSS_SOURCE_TYPE>(o_.source),
                                   static_cast<VSS_APPLICATION_LEVEL>(o_.level), o_.freezeTimeoutMs, VSS_AWS_NO_ALTERNATE_WRITER, false);
    if (FAILED(hr)) return *what = "IVssWriterImpl::Initialize", hr;
    hr = m_pWriterImpl->Subscribe(0, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG);
    if (FAILED(hr)) return *what = "IVssWriterImpl::Subscribe", hr;
    return S_OK;
  }

  void Unsubscribe() {
    if (m_pWriterImpl == nullptr) return;
    m_pWriterImpl->Unsubscribe();
    m_pWriterImpl->Uninitialize();
    m_pWriterImpl->Release();
    m_pWriterImpl = nullptr;
  }

  ~HostedVssWriter() { Unsubscribe(); }

  // VSS may not be failed from OnIdentify; the metadata comes from the TypeScript model.
  bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* md) override {
    std::string what;
    const bool ok = SUCCEEDED(ApplySpec(md, o_.spec, &what));
    bridge_->Dispatch("Identify", "{}", 0);  // tell TypeScript, without waiting
    return ok;
  }
  bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents*) override { return Deliver("PrepareForBackup", o_.eventTimeoutMs); }
  bool STDMETHODCALLTYPE OnPrepareSnapshot() override { return Deliver("PrepareForSnapshot", o_.eventTimeoutMs); }
  bool STDMETHODCALLTYPE OnFreeze() override { return Deliver("Freeze", o_.freezeTimeoutMs); }
  bool STDMETHODCALLTYPE OnThaw() override { return Deliver("Thaw", o_.freezeTimeoutMs); }
  bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents*) override { return Deliver("PostSnapshot", o_.eventTimeoutMs); }
  // An abort cannot be vetoed; the handler's outcome is not reported.
  bool STDMETHODCALLTYPE OnAbort() override {
    bridge_->Dispatch("Abort", "{}", o_.eventTimeoutMs);
    return true;
  }
  bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents*) override { return Deliver("BackupComplete", o_.eventTimeoutMs); }
  bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID snapshotSetId) override {
    return Deliver("BackupShutdown", o_.eventTimeoutMs, "{\"snapshotSetId\":\"" + FormatGuid(snapshotSetId) + "\"}");
  }
  bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents*) override { return Deliver("PreRestore", o_.eventTimeoutMs); }
  bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents*) override { return Deliver("PostRestore", o_.eventTimeoutMs); }

 private:
  // Runs on the VSS thread that delivered the event: SetWriterFailure must be called here.
  bool Deliver(const char* event, uint32_t timeoutMs, const std::string& payload = "{}") {
    const uint32_t hr = bridge_->Dispatch(event, payload, timeoutMs);
    if (hr == 0) return true;
    if (m_pWriterImpl != nullptr) m_pWriterImpl->SetWriterFailure(static_cast<HRESULT>(hr));
    return false;
  }

  std::shared_ptr<EventBridge> bridge_;
  HostOptions o_;
  LiveCounted<LiveKind::kHostedWriter> live_;
};

HRESULT ResolveCreateWriter(CreateWriterFn* fn, std::string* why) {
  *fn = nullptr;
  if (RunningUnderWine()) {
    *why = "hosted writers are unavailable under Wine (its CreateWriter aborts the process)";
    return E_NOTIMPL;
  }
  HMODULE m = LoadLibraryExW(L"vssapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (m != nullptr) *fn = reinterpret_cast<CreateWriterFn>(reinterpret_cast<void*>(GetProcAddress(m, "CreateWriter")));
  if (*fn == nullptr) {
    *why = "vssapi.dll has no CreateWriter";
    return E_NOTIMPL;
  }
  return S_OK;
}

// The JS object of one hosted writer. It owns the native writer (shared with a subscribe or
// unsubscribe in progress, whose worker thread uses it). While subscribed it holds a strong
// reference to itself, because VSS may call the writer at any time; unsubscribe() ends that and
// frees the native writer at once; an object never subscribed, or unsubscribed, is freed when
// collected. Every free happens on the JS thread (the writer holds the event bridge, which must
// be released there).
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
  void Failed() { busy_ = false; }

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
    if (Fail(host_->Subscribe(create, &what), what)) host_->Unsubscribe();  // undo a partial subscription, here in the MTA
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
  void Run() override { host_->Unsubscribe(); }
  Napi::Value Result(Napi::Env env) override {
    wrap_->Subscribed(false);
    return env.Undefined();
  }
};

Napi::Value HostWrap::Subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (subscribed_) return Resolved(env);
  if (busy_ || !host_) {
    Napi::Error::New(env, busy_ ? "HostedWriterHost.subscribe: a subscribe or unsubscribe is in progress" : "HostedWriterHost.subscribe: this writer was unsubscribed; create a new one")
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

}  // namespace

void RegisterHostedWriterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("HostedWriterHost", HostWrap::Define(env));
}

}  // namespace win
}  // namespace mbam
