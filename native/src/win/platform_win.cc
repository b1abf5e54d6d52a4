// Windows backend: registration of exports. COM work never runs on the JavaScript thread.
#include <napi.h>
#include <windows.h>

#include "common/platform.h"

namespace mbam {

const char* const kPlatformName = "win32";

namespace {

// Wine's ntdll exports wine_get_version; Windows' does not. Under Wine the express-writer factory
// is a stub that aborts the process, so callers must know before they call it.
bool RunningUnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

// Express writers exist from Windows 7 / Server 2008 R2 on; resolving the factory at run time
// lets older systems report that instead of failing to load the addon.
bool ExpressWriterFactoryPresent() {
  HMODULE vssapi = LoadLibraryExW(L"vssapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (vssapi == nullptr) return false;
  const bool present = GetProcAddress(vssapi, "CreateVssExpressWriterInternal") != nullptr;
  FreeLibrary(vssapi);
  return present;
}

bool IsElevated() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  TOKEN_ELEVATION elevation{};
  DWORD size = 0;
  const BOOL ok = GetTokenInformation(token, TokenElevation, &elevation, sizeof elevation, &size);
  CloseHandle(token);
  return ok && elevation.TokenIsElevated != 0;
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object caps = Napi::Object::New(env);
  const bool wine = RunningUnderWine();
  caps.Set("privileged", Napi::Boolean::New(env, IsElevated()));
  caps.Set("fsFreeze", Napi::Boolean::New(env, false));
  caps.Set("reflink", Napi::Boolean::New(env, false));
  caps.Set("btrfsSnapshot", Napi::Boolean::New(env, false));
  caps.Set("expressWriter", Napi::Boolean::New(env, !wine && ExpressWriterFactoryPresent()));
  caps.Set("wine", Napi::Boolean::New(env, wine));
  return caps;
}

}  // namespace

void RegisterPlatform(Napi::Env env, Napi::Object exports) {
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
}

}  // namespace mbam
