#pragma once
// Small COM helpers: owning pointers and BSTRs that release on every path, a per-thread MTA
// apartment, process-wide COM security set once, and UTF-8 <-> UTF-16 / GUID conversions.
#include <windows.h>
#include <objbase.h>
#include <oleauto.h>

#include <string>

namespace mbam {
namespace win {

template <typename T>
class ComPtr {
 public:
  ComPtr() = default;
  ComPtr(const ComPtr&) = delete;
  ComPtr& operator=(const ComPtr&) = delete;
  ~ComPtr() { Reset(); }
  T** Out() {
    Reset();
    return &p_;
  }
  T* operator->() const { return p_; }
  T* Get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  void Reset() {
    if (p_ != nullptr) p_->Release();
    p_ = nullptr;
  }

 private:
  T* p_ = nullptr;
};

class Bstr {
 public:
  Bstr() = default;
  explicit Bstr(const std::wstring& s) : b_(SysAllocStringLen(s.data(), static_cast<UINT>(s.size()))) {}
  Bstr(const Bstr&) = delete;
  Bstr& operator=(const Bstr&) = delete;
  ~Bstr() { SysFreeString(b_); }
  BSTR* Out() {
    SysFreeString(b_);
    b_ = nullptr;
    return &b_;
  }
  BSTR Get() const { return b_; }
  std::wstring Str() const { return b_ ? std::wstring(b_, SysStringLen(b_)) : std::wstring(); }

 private:
  BSTR b_ = nullptr;
};

// CoInitializeEx(MTA) for the current thread, undone on destruction when it was done here. VSS
// objects are free-threaded and must live in the MTA.
class Apartment {
 public:
  Apartment() : hr_(CoInitializeEx(nullptr, COINIT_MULTITHREADED)) {}
  Apartment(const Apartment&) = delete;
  Apartment& operator=(const Apartment&) = delete;
  ~Apartment() {
    if (SUCCEEDED(hr_)) CoUninitialize();
  }
  HRESULT hr() const { return hr_; }

 private:
  HRESULT hr_;
};

// CoInitializeSecurity once per process (packet privacy, identify impersonation, as VSS requires);
// RPC_E_TOO_LATE, when the host process already set it, is success. Then COM's exception handling
// is turned off (IGlobalOptions COMGLB_EXCEPTION_HANDLING = COMGLB_EXCEPTION_DONOT_HANDLE), as
// Microsoft's "Security Considerations for Writers/Requesters" ask: COM must not swallow an access
// violation in a VSS callback and keep a corrupt process running.
HRESULT EnsureComSecurity();
// The COMGLB_EXCEPTION_HANDLING value this process has (IGlobalOptions::Query), or -1 when COM
// could not say; for diagnostics and tests.
int ComExceptionHandling();

// Keeps the process's multithreaded apartment alive while a writer is subscribed. The apartment
// otherwise ends with the last thread that called CoInitializeEx(MTA) -- here the worker thread
// that subscribed -- and VSS's callbacks into the writer's COM objects then have no apartment.
// CoIncrementMTAUsage (Windows 8 / Server 2012 and later); before that, a thread that stays in
// the MTA does the same.
class MtaUsage {
 public:
  MtaUsage() = default;
  MtaUsage(const MtaUsage&) = delete;
  MtaUsage& operator=(const MtaUsage&) = delete;
  ~MtaUsage() { Release(); }
  HRESULT Acquire();
  void Release();

 private:
  void* cookie_ = nullptr;
  HANDLE keeperStop_ = nullptr, keeper_ = nullptr;
};

std::wstring Utf8ToWide(const std::string& s);
std::string WideToUtf8(const std::wstring& s);
// Accepts a GUID with or without braces; returns false when it is not one.
bool ParseGuid(const std::string& text, GUID* out);
// Lower case, without braces: the form VSS writes in XML and the JavaScript side uses.
std::string FormatGuid(const GUID& g);

// Wine's ntdll exports wine_get_version; Windows' does not.
bool RunningUnderWine();

}  // namespace win
}  // namespace mbam
