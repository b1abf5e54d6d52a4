#include "win/com.h"

#include <mutex>

namespace mbam {
namespace win {

namespace {
// objidl.h's GUIDs live in uuid.lib, which the build does not link; they are fixed values.
const CLSID kClsidGlobalOptions = {0x0000034b, 0x0000, 0x0000, {0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
const IID kIidGlobalOptions = {0x0000015b, 0x0000, 0x0000, {0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
}  // namespace

HRESULT EnsureComSecurity() {
  static std::once_flag once;
  static HRESULT result = S_OK;
  std::call_once(once, [] {
    const HRESULT hr = CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                                            RPC_C_IMP_LEVEL_IDENTIFY, nullptr, EOAC_DYNAMIC_CLOAKING, nullptr);
    result = (hr == RPC_E_TOO_LATE) ? S_OK : hr;
    if (FAILED(result)) return;
    IGlobalOptions* options = nullptr;
    if (SUCCEEDED(CoCreateInstance(kClsidGlobalOptions, nullptr, CLSCTX_INPROC_SERVER, kIidGlobalOptions, reinterpret_cast<void**>(&options)))) {
      result = options->Set(COMGLB_EXCEPTION_HANDLING, COMGLB_EXCEPTION_DONOT_HANDLE);
      options->Release();
    }
    // Without IGlobalOptions (COM older than Windows Vista) there is nothing to set.
  });
  return result;
}

int ComExceptionHandling() {
  IGlobalOptions* options = nullptr;
  if (FAILED(CoCreateInstance(kClsidGlobalOptions, nullptr, CLSCTX_INPROC_SERVER, kIidGlobalOptions, reinterpret_cast<void**>(&options)))) return -1;
  ULONG_PTR value = 0;
  const HRESULT hr = options->Query(COMGLB_EXCEPTION_HANDLING, &value);
  options->Release();
  return SUCCEEDED(hr) ? static_cast<int>(value) : -1;
}

namespace {
using IncrementFn = HRESULT(WINAPI*)(void**);
using DecrementFn = HRESULT(WINAPI*)(void*);
FARPROC Combase(const char* name) {
  HMODULE m = GetModuleHandleW(L"combase.dll");
  if (m == nullptr) m = GetModuleHandleW(L"ole32.dll");
  return m != nullptr ? GetProcAddress(m, name) : nullptr;
}
DWORD WINAPI MtaKeeper(void* stop) {
  const HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
  WaitForSingleObject(static_cast<HANDLE>(stop), INFINITE);
  if (SUCCEEDED(hr)) CoUninitialize();
  return 0;
}
}  // namespace

HRESULT MtaUsage::Acquire() {
  if (cookie_ != nullptr || keeper_ != nullptr) return S_OK;
  if (auto inc = reinterpret_cast<IncrementFn>(reinterpret_cast<void*>(Combase("CoIncrementMTAUsage")))) return inc(&cookie_);
  keeperStop_ = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (keeperStop_ == nullptr) return HRESULT_FROM_WIN32(GetLastError());
  keeper_ = CreateThread(nullptr, 0, MtaKeeper, keeperStop_, 0, nullptr);
  if (keeper_ == nullptr) {
    const HRESULT hr = HRESULT_FROM_WIN32(GetLastError());
    CloseHandle(keeperStop_);
    keeperStop_ = nullptr;
    return hr;
  }
  return S_OK;
}

void MtaUsage::Release() {
  if (cookie_ != nullptr) {
    if (auto dec = reinterpret_cast<DecrementFn>(reinterpret_cast<void*>(Combase("CoDecrementMTAUsage")))) dec(cookie_);
    cookie_ = nullptr;
  }
  if (keeper_ != nullptr) {
    SetEvent(keeperStop_);
    WaitForSingleObject(keeper_, INFINITE);
    CloseHandle(keeper_);
    CloseHandle(keeperStop_);
    keeper_ = keeperStop_ = nullptr;
  }
}

std::wstring Utf8ToWide(const std::string& s) {
  if (s.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), &w[0], n);
  return w;
}

std::string WideToUtf8(const std::wstring& w) {
  if (w.empty()) return std::string();
  const int n = WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), &s[0], n, nullptr, nullptr);
  return s;
}

bool ParseGuid(const std::string& text, GUID* out) {
  std::string t = text;
  if (t.size() == 36) t = "{" + t + "}";
  if (t.size() != 38) return false;
  std::wstring w = Utf8ToWide(t);
  return SUCCEEDED(CLSIDFromString(w.c_str(), out));
}

std::string FormatGuid(const GUID& g) {
  char buf[40];
  snprintf(buf, sizeof buf, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", static_cast<unsigned long>(g.Data1),
           g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3], g.Data4[4], g.Data4[5], g.Data4[6],
           g.Data4[7]);
  return buf;
}

bool RunningUnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

}  // namespace win
}  // namespace mbam
