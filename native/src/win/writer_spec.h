#pragma once
// The writer spec JavaScript hands to native code (the metadata model with enum values), and one
// function that applies it to either of VSS's metadata builders: IVssCreateExpressWriterMetadata
// (express writers) and IVssCreateWriterMetadata (the hosted writer's OnIdentify). Both have the
// same builder methods, so the template is the one place that order and those calls live.
#include <napi.h>
#include <windows.h>
#include <vss.h>
#include <vswriter.h>

#include <string>
#include <vector>

namespace mbam {
namespace win {

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

// Reads a spec from JavaScript; on a bad field returns false with `error` naming it.
bool ReadSpec(Napi::Env env, Napi::Value value, WriterSpec* spec, std::string* error);

inline const wchar_t* OrNull(const std::wstring& s, bool present) { return present ? s.c_str() : nullptr; }

// Applies the spec; returns the first failing HRESULT and names the call in `what`.
template <typename Metadata>
HRESULT ApplySpec(Metadata* md, const WriterSpec& spec, std::string* what) {
  HRESULT hr = S_OK;
  if (spec.backupSchema != 0 && FAILED(hr = md->SetBackupSchema(spec.backupSchema))) return *what = "SetBackupSchema", hr;
  if (spec.hasRestoreMethod &&
      FAILED(hr = md->SetRestoreMethod(static_cast<VSS_RESTOREMETHOD_ENUM>(spec.method), OrNull(spec.service, spec.hasService),
                                       OrNull(spec.userProcedure, spec.hasUserProcedure),
                                       static_cast<VSS_WRITERRESTORE_ENUM>(spec.writerRestore), spec.rebootRequired)))
    return *what = "SetRestoreMethod", hr;
  for (const Component& c : spec.components) {
    const wchar_t* lp = OrNull(c.logicalPath, c.hasLogicalPath);
    if (FAILED(hr = md->AddComponent(static_cast<VSS_COMPONENT_TYPE>(c.type), lp, c.name.c_str(), OrNull(c.caption, c.hasCaption), nullptr, 0,
                                     c.restoreMetadata, c.notifyOnBackupComplete, c.selectable, c.selectableForRestore, c.flags)))
      return *what = "AddComponent", hr;
    for (const FileSpec& f : c.files) {
      if (FAILED(hr = md->AddFilesToFileGroup(lp, c.name.c_str(), f.path.c_str(), f.filespec.c_str(), f.recursive,
                                              OrNull(f.alternatePath, f.hasAlternate), f.backupTypeMask)))
        return *what = "AddFilesToFileGroup", hr;
    }
    for (const Dependency& d : c.dependencies) {
      if (FAILED(hr = md->AddComponentDependency(lp, c.name.c_str(), d.writerId, OrNull(d.logicalPath, d.hasLogicalPath), d.componentName.c_str())))
        return *what = "AddComponentDependency", hr;
    }
  }
  for (const FileSpec& f : spec.excludes) {
    if (FAILED(hr = md->AddExcludeFiles(f.path.c_str(), f.filespec.c_str(), f.recursive))) return *what = "AddExcludeFiles", hr;
  }
  return S_OK;
}

}  // namespace win
}  // namespace mbam
