// Express-writer registration: the metadata is built through IVssCreateExpressWriterMetadata, so
// that component dependencies (which have no documented XML form) reach VSS through
// AddComponentDependency, then saved, loaded and registered.
#include <napi.h>

#include <vector>

#include "common/queue.h"
#include "win/com_worker.h"
#include "win/vss_api.h"
#include "win/win.h"
#include "win/writer_spec.h"

namespace mbam {
namespace win {
namespace {

// The two express-writer operations start the same way: resolve the factory, create the writer.
class ExpressWriterWorker : public ComWorker {
 public:
  using ComWorker::ComWorker;

 protected:
  bool CreateExpressWriter(ComPtr<IVssExpressWriter>* writer) {
    CreateExpressWriterFn create = nullptr;
    std::string why;
    if (Fail(ResolveExpressWriterFactory(&create, &why), why)) return false;
    return !Fail(create(writer->Out()), "CreateVssExpressWriterInternal");
  }
};

class RegisterWorker : public ExpressWriterWorker {
 public:
  RegisterWorker(Napi::Env env, WriterSpec spec) : ExpressWriterWorker(env), spec_(std::move(spec)) {}

 protected:
  void Run() override {
    ComPtr<IVssExpressWriter> writer;
    if (!CreateExpressWriter(&writer)) return;
    ComPtr<IVssCreateExpressWriterMetadata> md;
    if (Fail(writer->CreateMetadata(spec_.writerId, spec_.name.c_str(), static_cast<VSS_USAGE_TYPE>(spec_.usage), spec_.major,
                                    spec_.minor, 0, md.Out()),
             "IVssExpressWriter::CreateMetadata"))
      return;
    std::string what;
    if (Fail(ApplySpec(md.Get(), spec_, &what), what)) return;
    Bstr xml;
    if (Fail(md->SaveAsXML(xml.Out()), "IVssCreateExpressWriterMetadata::SaveAsXML")) return;
    xml_ = WideToUtf8(xml.Str());
    if (Fail(writer->LoadMetadata(xml.Get(), 0), "IVssExpressWriter::LoadMetadata")) return;
    Fail(writer->Register(), "IVssExpressWriter::Register");
  }
  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, xml_); }

 private:
  WriterSpec spec_;
  std::string xml_;
};

class UnregisterWorker : public ExpressWriterWorker {
 public:
  UnregisterWorker(Napi::Env env, GUID writerId) : ExpressWriterWorker(env), writerId_(writerId) {}

 protected:
  void Run() override {
    ComPtr<IVssExpressWriter> writer;
    if (!CreateExpressWriter(&writer)) return;
    Fail(writer->Unregister(writerId_), "IVssExpressWriter::Unregister");
  }

 private:
  GUID writerId_;
};

Napi::Value RegisterExpressWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriterSpec spec;
  std::string error;
  if (info.Length() < 1 || !ReadSpec(env, info[0], &spec, &error)) {
    Napi::TypeError::New(env, "registerExpressWriter: " + (error.empty() ? std::string("expected a writer spec") : error))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return QueueWorker<RegisterWorker>(env, std::move(spec));
}

Napi::Value UnregisterExpressWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GUID id{};
  if (info.Length() < 1 || !info[0].IsString() || !ParseGuid(info[0].As<Napi::String>().Utf8Value(), &id)) {
    Napi::TypeError::New(env, "unregisterExpressWriter(writerId: GUID string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return QueueWorker<UnregisterWorker>(env, id);
}

}  // namespace

void RegisterExpressWriterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("registerExpressWriter", Napi::Function::New(env, RegisterExpressWriter, "registerExpressWriter"));
  exports.Set("unregisterExpressWriter", Napi::Function::New(env, UnregisterExpressWriter, "unregisterExpressWriter"));
}

}  // namespace win
}  // namespace mbam
