#include "win/vss_api.h"

#include "win/com.h"

#include <cstring>

namespace mbam {
namespace win {
namespace {

HMODULE VssApi() {
  // Loaded once and kept: the factories' objects live in it.
  static HMODULE module = LoadLibraryExW(L"vssapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  return module;
}

// Wine marks its builtin PE modules with this text right after the DOS header.
bool IsWineBuiltin(HMODULE m) {
  static const char kMark[] = "Wine builtin DLL";
  return m != nullptr && memcmp(reinterpret_cast<const char*>(m) + 0x40, kMark, sizeof kMark - 1) == 0;
}

}  // namespace

bool WineBuiltinVssApi() { return RunningUnderWine() && (VssApi() == nullptr || IsWineBuiltin(VssApi())); }

HRESULT ResolveExpressWriterFactory(CreateExpressWriterFn* fn, std::string* why) {
  *fn = nullptr;
  if (WineBuiltinVssApi()) {
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

HRESULT ResolveCreateWriter(CreateWriterFn* fn, std::string* why) {
  *fn = nullptr;
  if (WineBuiltinVssApi()) {
    *why = "hosted writers are unavailable under Wine (its CreateWriter aborts the process)";
    return E_NOTIMPL;
  }
  HMODULE m = VssApi();
  if (m != nullptr) *fn = reinterpret_cast<CreateWriterFn>(reinterpret_cast<void*>(GetProcAddress(m, "CreateWriter")));
  if (*fn == nullptr) {
    *why = "vssapi.dll has no CreateWriter";
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
