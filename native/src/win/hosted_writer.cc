// The hosted writer: a CVssWriter-compatible object (win/cvsswriter_abi.h) whose On* handlers reach
// TypeScript through the event bridge. Built with MinGW-w64 here and with MSVC on Windows; both use
// the Microsoft x64 calling convention.
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/event_bridge.h"
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
};

std::mutex g_hostsMutex;
std::vector<std::unique_ptr<HostedVssWriter>>& Hosts() {
  static std::vector<std::unique_ptr<HostedVssWriter>> hosts;
  return hosts;
}

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

class SubscribeWorker : public ComWorker {
 public:
  SubscribeWorker(Napi::Env env, std::shared_ptr<EventBridge> bridge, HostOptions o) : ComWorker(env), host_(new HostedVssWriter(std::move(bridge), std::move(o))) {}

 protected:
  void Run() override {
    CreateWriterFn create = nullptr;
    std::string why;
    if (Fail(ResolveCreateWriter(&create, &why), why)) return;
    std::string what;
    if (Fail(host_->Subscribe(create, &what), what)) {
      host_.reset();
      return;
    }
    std::lock_guard<std::mutex> lock(g_hostsMutex);
    Hosts().push_back(std::move(host_));
    handle_ = Hosts().size() - 1;
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(handle_)); }

 private:
  std::unique_ptr<HostedVssWriter> host_;
  size_t handle_ = 0;
};

class UnsubscribeWorker : public ComWorker {
 public:
  UnsubscribeWorker(Napi::Env env, size_t handle) : ComWorker(env), handle_(handle) {}

 protected:
  void Run() override {
    std::unique_ptr<HostedVssWriter> host;
    {
      std::lock_guard<std::mutex> lock(g_hostsMutex);
      if (handle_ < Hosts().size()) host = std::move(Hosts()[handle_]);
    }
    if (host) host->Unsubscribe();
  }

 private:
  size_t handle_;
};

// hostedWriterSubscribe(bridge, spec, { instanceName?, source, level, freezeTimeoutMs, eventTimeoutMs }) -> Promise<handle>
Napi::Value HostedWriterSubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<EventBridge> bridge = info.Length() > 0 ? UnwrapBridge(info[0]) : nullptr;
  HostOptions o;
  std::string error;
  if (!bridge || info.Length() < 3 || !info[2].IsObject() || !ReadSpec(env, info[1], &o.spec, &error)) {
    Napi::TypeError::New(env, "hostedWriterSubscribe(bridge, spec, options): " + error).ThrowAsJavaScriptException();
    return env.Undefined();
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
  return QueueWorker<SubscribeWorker>(env, bridge, std::move(o));
}

Napi::Value HostedWriterUnsubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "hostedWriterUnsubscribe(handle)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return QueueWorker<UnsubscribeWorker>(env, info[0].As<Napi::Number>().Uint32Value());
}

}  // namespace

void RegisterHostedWriterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("hostedWriterSubscribe", Napi::Function::New(env, HostedWriterSubscribe, "hostedWriterSubscribe"));
  exports.Set("hostedWriterUnsubscribe", Napi::Function::New(env, HostedWriterUnsubscribe, "hostedWriterUnsubscribe"));
}

}  // namespace win
}  // namespace mbam
