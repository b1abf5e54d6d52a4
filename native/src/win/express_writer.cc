// Express-writer registration: the metadata is built through IVssCreateExpressWriterMetadata, so
// that component dependencies (which have no documented XML form) reach VSS through
// AddComponentDependency, then saved, loaded and registered.
#include <napi.h>

#include <vector>

#include "win/com_worker.h"
#include "win/vss_api.h"
#include "win/win.h"

namespace mbam {
namespace win {
namespace {

struct FileSpec {
  std::wstring path, filespec, alternatePath;
  bool recursive = false, hasAlternate = false;
  DWORD backupTypeMask = VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED;
};
struct Dependency {
  GUID writerId{};
  std::wstring logicalPath, componentName;
  bool hasLogicalPath = false;
};
struct Component {
  int type = VSS_CT_FILEGROUP;
  std::wstring logicalPath, name, caption;
  bool hasLogicalPath = false, hasCaption = false;
  bool restoreMetadata = false, notifyOnBackupComplete = false, selectable = true, selectableForRestore = false;
  DWORD flags = 0;
  std::vector<FileSpec> files;
  std::vector<Dependency> dependencies;
};
struct WriterSpec {
  GUID writerId{};
  std::wstring name, service, userProcedure;
  int usage = VSS_UT_USERDATA, method = VSS_RME_RESTORE_IF_CAN_REPLACE, writerRestore = VSS_WRE_NEVER;
  DWORD major = 0, minor = 0, backupSchema = 0;
  bool hasRestoreMethod = false, hasService = false, hasUserProcedure = false, rebootRequired = false;
  std::vector<Component> components;
  std::vector<FileSpec> excludes;
};

// Reading the spec from JavaScript. Exceptions are off: a bad field becomes a TypeError that the
// caller throws, naming the field.
class SpecReader {
 public:
  explicit SpecReader(Napi::Env env) : env_(env) {}
  std::string error;

  std::wstring Str(Napi::Object o, const char* key, bool* present = nullptr) {
    Napi::Value v = o.Get(key);
    if (present) *present = v.IsString();
    if (v.IsString()) return Utf8ToWide(v.As<Napi::String>().Utf8Value());
    if (!present && error.empty()) error = std::string("spec.") + key + ": expected a string";
    return std::wstring();
  }
  int Int(Napi::Object o, const char* key, int dflt) {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
  }
  bool Bool(Napi::Object o, const char* key, bool dflt) {
    Napi::Value v = o.Get(key);
    return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
  }
  GUID Guid(Napi::Object o, const char* key) {
    GUID g{};
    Napi::Value v = o.Get(key);
    if (!v.IsString() || !ParseGuid(v.As<Napi::String>().Utf8Value(), &g)) {
      if (error.empty()) error = std::string("spec.") + key + ": expected a GUID";
    }
    return g;
  }
  std::vector<Napi::Object> Array(Napi::Object o, const char* key) {
    std::vector<Napi::Object> out;
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) return out;
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (e.IsObject()) out.push_back(e.As<Napi::Object>());
    }
    return out;
  }
  FileSpec File(Napi::Object f) {
    FileSpec s;
    s.path = Str(f, "path");
    s.filespec = Str(f, "filespec");
    s.recursive = Bool(f, "recursive", false);
    s.alternatePath = Str(f, "alternatePath", &s.hasAlternate);
    s.backupTypeMask = static_cast<DWORD>(Int(f, "backupTypeMask", static_cast<int>(s.backupTypeMask)));
    return s;
  }

 private:
  Napi::Env env_;
};

bool ReadSpec(Napi::Env env, Napi::Value value, WriterSpec* spec, std::string* error) {
  if (!value.IsObject()) {
    *error = "spec: expected an object";
    return false;
  }
  SpecReader r(env);
  Napi::Object o = value.As<Napi::Object>();
  spec->writerId = r.Guid(o, "writerId");
  spec->name = r.Str(o, "name");
  spec->usage = r.Int(o, "usage", VSS_UT_USERDATA);
  spec->major = static_cast<DWORD>(r.Int(o, "versionMajor", 0));
  spec->minor = static_cast<DWORD>(r.Int(o, "versionMinor", 0));
  spec->backupSchema = static_cast<DWORD>(r.Int(o, "backupSchema", 0));
  Napi::Value rm = o.Get("restoreMethod");
  if (rm.IsObject()) {
    Napi::Object m = rm.As<Napi::Object>();
    spec->hasRestoreMethod = true;
    spec->method = r.Int(m, "method", VSS_RME_RESTORE_IF_CAN_REPLACE);
    spec->writerRestore = r.Int(m, "writerRestore", VSS_WRE_NEVER);
    spec->rebootRequired = r.Bool(m, "rebootRequired", false);
    spec->service = r.Str(m, "service", &spec->hasService);
    spec->userProcedure = r.Str(m, "userProcedure", &spec->hasUserProcedure);
  }
  for (Napi::Object c : r.Array(o, "components")) {
    Component comp;
    comp.type = r.Int(c, "type", VSS_CT_FILEGROUP);
    comp.name = r.Str(c, "componentName");
    comp.logicalPath = r.Str(c, "logicalPath", &comp.hasLogicalPath);
    comp.caption = r.Str(c, "caption", &comp.hasCaption);
    comp.restoreMetadata = r.Bool(c, "restoreMetadata", false);
    comp.notifyOnBackupComplete = r.Bool(c, "notifyOnBackupComplete", false);
    comp.selectable = r.Bool(c, "selectable", true);
    comp.selectableForRestore = r.Bool(c, "selectableForRestore", false);
    comp.flags = static_cast<DWORD>(r.Int(c, "componentFlags", 0));
    for (Napi::Object f : r.Array(c, "files")) comp.files.push_back(r.File(f));
    for (Napi::Object d : r.Array(c, "dependencies")) {
      Dependency dep;
      dep.writerId = r.Guid(d, "writerId");
      dep.componentName = r.Str(d, "componentName");
      dep.logicalPath = r.Str(d, "logicalPath", &dep.hasLogicalPath);
      comp.dependencies.push_back(dep);
    }
    spec->components.push_back(comp);
  }
  for (Napi::Object f : r.Array(o, "excludeFiles")) spec->excludes.push_back(r.File(f));
  *error = r.error;
  return error->empty();
}

const wchar_t* OrNull(const std::wstring& s, bool present) { return present ? s.c_str() : nullptr; }

class RegisterWorker : public ComWorker {
 public:
  RegisterWorker(Napi::Env env, WriterSpec spec) : ComWorker(env), spec_(std::move(spec)) {}

 protected:
  void Run() override {
    CreateExpressWriterFn create = nullptr;
    std::string why;
    if (Fail(ResolveExpressWriterFactory(&create, &why), why)) return;
    ComPtr<IVssExpressWriter> writer;
    if (Fail(create(writer.Out()), "CreateVssExpressWriterInternal")) return;
    ComPtr<IVssCreateExpressWriterMetadata> md;
    if (Fail(writer->CreateMetadata(spec_.writerId, spec_.name.c_str(), static_cast<VSS_USAGE_TYPE>(spec_.usage), spec_.major,
                                    spec_.minor, 0, md.Out()),
             "IVssExpressWriter::CreateMetadata"))
      return;
    if (spec_.backupSchema != 0 && Fail(md->SetBackupSchema(spec_.backupSchema), "SetBackupSchema")) return;
    if (spec_.hasRestoreMethod &&
        Fail(md->SetRestoreMethod(static_cast<VSS_RESTOREMETHOD_ENUM>(spec_.method), OrNull(spec_.service, spec_.hasService),
                                  OrNull(spec_.userProcedure, spec_.hasUserProcedure),
                                  static_cast<VSS_WRITERRESTORE_ENUM>(spec_.writerRestore), spec_.rebootRequired),
             "SetRestoreMethod"))
      return;
    for (const Component& c : spec_.components) {
      const wchar_t* lp = OrNull(c.logicalPath, c.hasLogicalPath);
      if (Fail(md->AddComponent(static_cast<VSS_COMPONENT_TYPE>(c.type), lp, c.name.c_str(), OrNull(c.caption, c.hasCaption),
                                nullptr, 0, c.restoreMetadata, c.notifyOnBackupComplete, c.selectable, c.selectableForRestore,
                                c.flags),
               "AddComponent " + WideToUtf8(c.name)))
        return;
      for (const FileSpec& f : c.files) {
        if (Fail(md->AddFilesToFileGroup(lp, c.name.c_str(), f.path.c_str(), f.filespec.c_str(), f.recursive,
                                         OrNull(f.alternatePath, f.hasAlternate), f.backupTypeMask),
                 "AddFilesToFileGroup " + WideToUtf8(c.name)))
          return;
      }
      for (const Dependency& d : c.dependencies) {
        if (Fail(md->AddComponentDependency(lp, c.name.c_str(), d.writerId, OrNull(d.logicalPath, d.hasLogicalPath),
                                            d.componentName.c_str()),
                 "AddComponentDependency " + WideToUtf8(c.name) + " -> " + WideToUtf8(d.componentName)))
          return;
      }
    }
    for (const FileSpec& f : spec_.excludes) {
      if (Fail(md->AddExcludeFiles(f.path.c_str(), f.filespec.c_str(), f.recursive), "AddExcludeFiles")) return;
    }
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

class UnregisterWorker : public ComWorker {
 public:
  UnregisterWorker(Napi::Env env, GUID writerId) : ComWorker(env), writerId_(writerId) {}

 protected:
  void Run() override {
    CreateExpressWriterFn create = nullptr;
    std::string why;
    if (Fail(ResolveExpressWriterFactory(&create, &why), why)) return;
    ComPtr<IVssExpressWriter> writer;
    if (Fail(create(writer.Out()), "CreateVssExpressWriterInternal")) return;
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
  auto* worker = new RegisterWorker(env, std::move(spec));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value UnregisterExpressWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GUID id{};
  if (info.Length() < 1 || !info[0].IsString() || !ParseGuid(info[0].As<Napi::String>().Utf8Value(), &id)) {
    Napi::TypeError::New(env, "unregisterExpressWriter(writerId: GUID string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new UnregisterWorker(env, id);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void RegisterExpressWriterExports(Napi::Env env, Napi::Object exports) {
  exports.Set("registerExpressWriter", Napi::Function::New(env, RegisterExpressWriter, "registerExpressWriter"));
  exports.Set("unregisterExpressWriter", Napi::Function::New(env, UnregisterExpressWriter, "unregisterExpressWriter"));
}

}  // namespace win
}  // namespace mbam
