// Requester queries: every writer's identity, state, failure HRESULT and metadata document, the
// way `vssadmin list writers` and backup products see them (IVssBackupComponents).
#include <napi.h>

#include <vector>

#include "common/queue.h"
#include "win/com_worker.h"
#include "win/vss_api.h"
#include "win/win.h"

namespace mbam {
namespace win {
namespace {

struct WriterInfo {
  std::string name, writerId, instanceId, metadataXml;
  int state = 0;
  uint32_t failure = 0;
  bool hasStatus = false;
};

// VSS's asynchronous calls return an IVssAsync; the result is only known once it finished. One
// still pending at the deadline is cancelled (IVssAsync::Cancel), not abandoned running; and
// VSS_S_ASYNC_CANCELLED is a success code that means the work was NOT done.
HRESULT WaitFor(IVssAsync* async, DWORD timeoutMs) {
  HRESULT hr = async->Wait(timeoutMs);
  if (FAILED(hr)) return hr;
  HRESULT result = S_OK;
  hr = async->QueryStatus(&result, nullptr);
  if (FAILED(hr)) return hr;
  if (result == VSS_S_ASYNC_PENDING) {
    const HRESULT cancel = async->Cancel();
    // It may have finished between QueryStatus and Cancel.
    if (cancel == VSS_S_ASYNC_FINISHED) return S_OK;
    return VSS_E_WRITER_NOT_RESPONDING;
  }
  if (result == VSS_S_ASYNC_CANCELLED) return E_ABORT;
  return result == VSS_S_ASYNC_FINISHED ? S_OK : (SUCCEEDED(result) ? E_UNEXPECTED : result);
}

class GatherWorker : public ComWorker {
 public:
  GatherWorker(Napi::Env env, DWORD timeoutMs) : ComWorker(env), timeoutMs_(timeoutMs) {}

 protected:
  void Run() override {
    CreateBackupComponentsFn create = nullptr;
    std::string why;
    if (Fail(ResolveBackupComponentsFactory(&create, &why), why)) return;
    ComPtr<IVssBackupComponents> bc;
    if (Fail(create(bc.Out()), "CreateVssBackupComponentsInternal")) return;
    if (Fail(bc->InitializeForBackup(nullptr), "IVssBackupComponents::InitializeForBackup")) return;
    if (Fail(bc->SetContext(VSS_CTX_BACKUP), "IVssBackupComponents::SetContext")) return;
    // Backup initialization sets the backup state before gathering metadata ("Overview of Backup
    // Initialization"; vshadow does the same): writers see a consistent session.
    if (Fail(bc->SetBackupState(true, false, VSS_BT_FULL, false), "IVssBackupComponents::SetBackupState")) return;
    {
      ComPtr<IVssAsync> async;
      if (Fail(bc->GatherWriterMetadata(async.Out()), "GatherWriterMetadata")) return;
      if (Fail(WaitFor(async.Get(), timeoutMs_), "GatherWriterMetadata (wait)")) return;
    }
    UINT count = 0;
    if (Fail(bc->GetWriterMetadataCount(&count), "GetWriterMetadataCount")) return;
    for (UINT i = 0; i < count; i++) {
      VSS_ID instance{};
      ComPtr<IVssExamineWriterMetadata> md;
      if (Fail(bc->GetWriterMetadata(i, &instance, md.Out()), "GetWriterMetadata")) break;
      VSS_ID idInstance{}, idWriter{};
      Bstr name;
      VSS_USAGE_TYPE usage{};
      VSS_SOURCE_TYPE source{};
      if (Fail(md->GetIdentity(&idInstance, &idWriter, name.Out(), &usage, &source), "IVssExamineWriterMetadata::GetIdentity")) break;
      Bstr xml;
      if (Fail(md->SaveAsXML(xml.Out()), "IVssExamineWriterMetadata::SaveAsXML")) break;
      WriterInfo w;
      w.name = WideToUtf8(name.Str());
      w.writerId = FormatGuid(idWriter);
      w.instanceId = FormatGuid(idInstance);
      w.metadataXml = WideToUtf8(xml.Str());
      writers_.push_back(std::move(w));
    }
    // Free even after a failed iteration, then report that failure.
    const HRESULT freeHr = bc->FreeWriterMetadata();
    if (Failed()) return;
    if (Fail(freeHr, "FreeWriterMetadata")) return;
    {
      ComPtr<IVssAsync> async;
      if (Fail(bc->GatherWriterStatus(async.Out()), "GatherWriterStatus")) return;
      if (Fail(WaitFor(async.Get(), timeoutMs_), "GatherWriterStatus (wait)")) return;
    }
    if (Fail(bc->GetWriterStatusCount(&count), "GetWriterStatusCount")) return;
    for (UINT i = 0; i < count; i++) {
      VSS_ID idInstance{}, idWriter{};
      Bstr name;
      VSS_WRITER_STATE state{};
      HRESULT failure = S_OK;
      if (Fail(bc->GetWriterStatus(i, &idInstance, &idWriter, name.Out(), &state, &failure), "GetWriterStatus")) break;
      const std::string instance = FormatGuid(idInstance);
      WriterInfo* w = nullptr;
      for (WriterInfo& x : writers_) if (x.instanceId == instance) w = &x;
      if (w == nullptr) {
        writers_.push_back(WriterInfo{});
        w = &writers_.back();
        w->name = WideToUtf8(name.Str());
        w->writerId = FormatGuid(idWriter);
        w->instanceId = instance;
      }
      w->state = static_cast<int>(state);
      w->failure = static_cast<uint32_t>(failure);
      w->hasStatus = true;
    }
    const HRESULT freeStatus = bc->FreeWriterStatus();
    if (Failed()) return;
    Fail(freeStatus, "FreeWriterStatus");
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, writers_.size());
    for (size_t i = 0; i < writers_.size(); i++) {
      const WriterInfo& w = writers_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", w.name);
      o.Set("writerId", w.writerId);
      o.Set("instanceId", w.instanceId);
      o.Set("state", w.hasStatus ? Napi::Value(Napi::Number::New(env, w.state)) : env.Null());
      o.Set("failure", Napi::Number::New(env, w.failure));
      o.Set("metadataXml", w.metadataXml.empty() ? env.Null() : Napi::Value(Napi::String::New(env, w.metadataXml)));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  DWORD timeoutMs_;
  std::vector<WriterInfo> writers_;
};

// gatherWriters(timeoutMs?) -> Promise<writer[]>; timeoutMs bounds each asynchronous step.
Napi::Value GatherWriters(const Napi::CallbackInfo& info) {
  DWORD timeoutMs = 5 * 60 * 1000;
  if (info.Length() > 0 && info[0].IsNumber()) timeoutMs = info[0].As<Napi::Number>().Uint32Value();
  return QueueWorker<GatherWorker>(info.Env(), timeoutMs);
}

}  // namespace

void RegisterRequesterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("gatherWriters", Napi::Function::New(env, GatherWriters, "gatherWriters"));
}

}  // namespace win
}  // namespace mbam
