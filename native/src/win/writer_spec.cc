#include "win/writer_spec.h"

#include "win/com.h"

namespace mbam {
namespace win {
namespace {

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

}  // namespace

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


}  // namespace win
}  // namespace mbam
