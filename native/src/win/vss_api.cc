#include "win/vss_api.h"

#include "win/com.h"

namespace mbam {
namespace win {
namespace {

HMODULE VssApi() {
  // Loaded once and kept: the factories' objects live in it.
  static HMODULE module = LoadLibraryExW(L"vssapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  return module;
}

}  // namespace

HRESULT ResolveExpressWriterFactory(CreateExpressWriterFn* fn, std::string* why) {
  *fn = nullptr;
  if (RunningUnderWine()) {
    *why = "express writers are unavailable under Wine (its CreateVssExpressWriterInternal aborts the process)";
    return E_NOTIMPL;
  }
  HMODULE m = VssApi();
  if (m != nullptr) *fn = reinterpret_cast<CreateExpressWriterFn>(reinterpret_cast<void*>(GetProcAddress(m, "CreateVssExpressWriterInternal")));
  if (*fn == nullptr) {
    *why = "VSS express writers need Windows 7 / Windows Server 2008 R2 or later (CreateVssExpressWriterInternal not found in vssapi.dll)";
    return E_NOTIMPL;
  }
  return S_OK;
}

HRESULT ResolveBackupComponentsFactory(CreateBackupComponentsFn* fn, std::string* why) {
  *fn = nullptr;
  HMODULE m = VssApi();
  if (m != nullptr) *fn = reinterpret_cast<CreateBackupComponentsFn>(reinterpret_cast<void*>(GetProcAddress(m, "CreateVssBackupComponentsInternal")));
  if (*fn == nullptr) {
    *why = "vssapi.dll has no CreateVssBackupComponentsInternal";
    return E_NOTIMPL;
  }
  return S_OK;
}

}  // namespace win
}  // namespace mbam
