// Test-only. A tiny runtime for a CRT-less DLL/EXE built by clang for the MSVC ABI: kernel32 /
// oleaut32 imports, heap, growable buffers, UTF-8 conversion. No static constructors anywhere
// (the stand-in is linked without a CRT, so nothing would run them).
#pragma once
#include "vss_abi.h"

struct CRITICAL_SECTION { void* DebugInfo; LONG LockCount; LONG RecursionCount; HANDLE OwningThread; HANDLE LockSemaphore; ULONG_PTR SpinCount; };
struct WIN32_FIND_DATAW {
  DWORD dwFileAttributes; FILETIME ftCreationTime; FILETIME ftLastAccessTime; FILETIME ftLastWriteTime;
  DWORD nFileSizeHigh; DWORD nFileSizeLow; DWORD dwReserved0; DWORD dwReserved1; WCHAR cFileName[260]; WCHAR cAlternateFileName[14];
  DWORD dwFileType; DWORD dwCreatorType; WORD wFinderFlags;
};
typedef DWORD(WINAPI* LPTHREAD_START_ROUTINE)(void*);

WINBASEAPI HANDLE WINAPI GetProcessHeap();
WINBASEAPI void* WINAPI HeapAlloc(HANDLE, DWORD, SIZE_T);
WINBASEAPI void* WINAPI HeapReAlloc(HANDLE, DWORD, void*, SIZE_T);
WINBASEAPI BOOL WINAPI HeapFree(HANDLE, DWORD, void*);
WINBASEAPI HANDLE WINAPI CreateThread(void*, SIZE_T, LPTHREAD_START_ROUTINE, void*, DWORD, DWORD*);
WINBASEAPI DWORD WINAPI WaitForSingleObject(HANDLE, DWORD);
WINBASEAPI BOOL WINAPI CloseHandle(HANDLE);
WINBASEAPI HANDLE WINAPI CreateEventW(void*, BOOL, BOOL, LPCWSTR);
WINBASEAPI BOOL WINAPI SetEvent(HANDLE);
WINBASEAPI void WINAPI InitializeCriticalSection(CRITICAL_SECTION*);
WINBASEAPI void WINAPI EnterCriticalSection(CRITICAL_SECTION*);
WINBASEAPI void WINAPI LeaveCriticalSection(CRITICAL_SECTION*);
WINBASEAPI DWORD WINAPI GetCurrentThreadId();
WINBASEAPI void WINAPI Sleep(DWORD);
WINBASEAPI unsigned long long WINAPI GetTickCount64();
WINBASEAPI DWORD WINAPI GetEnvironmentVariableW(LPCWSTR, LPWSTR, DWORD);
WINBASEAPI HANDLE WINAPI CreateFileW(LPCWSTR, DWORD, DWORD, void*, DWORD, DWORD, HANDLE);
WINBASEAPI BOOL WINAPI WriteFile(HANDLE, const void*, DWORD, DWORD*, void*);
WINBASEAPI BOOL WINAPI ReadFile(HANDLE, void*, DWORD, DWORD*, void*);
WINBASEAPI DWORD WINAPI GetFileSize(HANDLE, DWORD*);
WINBASEAPI BOOL WINAPI DeleteFileW(LPCWSTR);
WINBASEAPI DWORD WINAPI GetFileAttributesW(LPCWSTR);
WINBASEAPI HANDLE WINAPI FindFirstFileW(LPCWSTR, WIN32_FIND_DATAW*);
WINBASEAPI BOOL WINAPI FindNextFileW(HANDLE, WIN32_FIND_DATAW*);
WINBASEAPI BOOL WINAPI FindClose(HANDLE);
WINBASEAPI int WINAPI WideCharToMultiByte(UINT, DWORD, LPCWSTR, int, char*, int, const char*, BOOL*);
WINBASEAPI int WINAPI MultiByteToWideChar(UINT, DWORD, const char*, int, LPWSTR, int);
WINBASEAPI void WINAPI ExitProcess(UINT);
// x64 kernel32 has no InterlockedIncrement export (it is a compiler intrinsic there).
inline LONG InterlockedIncrement(LONG volatile* p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
WINBASEAPI DWORD WINAPI GetCurrentProcessId();
WINBASEAPI HANDLE WINAPI GetStdHandle(DWORD);
WINBASEAPI LPWSTR WINAPI GetCommandLineW();
extern "C" __declspec(dllimport) BSTR WINAPI SysAllocString(const WCHAR*);
extern "C" __declspec(dllimport) BSTR WINAPI SysAllocStringLen(const WCHAR*, UINT);
extern "C" __declspec(dllimport) void WINAPI SysFreeString(BSTR);
extern "C" void* __cdecl memcpy(void*, const void*, SIZE_T);
extern "C" void* __cdecl memset(void*, int, SIZE_T);

#define INVALID_HANDLE_VALUE ((HANDLE)(long long)-1)
#define INFINITE 0xFFFFFFFF
#define WAIT_OBJECT_0 0
#define WAIT_TIMEOUT 258
#define GENERIC_READ 0x80000000
#define GENERIC_WRITE 0x40000000
#define FILE_APPEND_DATA 0x4
#define FILE_SHARE_READ 1
#define FILE_SHARE_WRITE 2
#define FILE_SHARE_DELETE 4
#define CREATE_ALWAYS 2
#define CREATE_NEW 1
#define OPEN_EXISTING 3
#define OPEN_ALWAYS 4
#define FILE_ATTRIBUTE_NORMAL 0x80
#define INVALID_FILE_ATTRIBUTES 0xFFFFFFFF
#define HEAP_ZERO_MEMORY 0x8
#define CP_UTF8 65001
#define TRUE 1
#define FALSE 0

namespace rt {
inline void* alloc(SIZE_T n) { return HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, n ? n : 1); }
inline void* realloc(void* p, SIZE_T n) { return p ? HeapReAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, p, n) : alloc(n); }
inline void free(void* p) { if (p) HeapFree(GetProcessHeap(), 0, p); }
inline SIZE_T wlen(const wchar_t* s) { SIZE_T n = 0; if (s) while (s[n]) ++n; return n; }
inline SIZE_T clen(const char* s) { SIZE_T n = 0; if (s) while (s[n]) ++n; return n; }
inline wchar_t* wdup(const wchar_t* s) {
  if (!s) return nullptr;
  SIZE_T n = wlen(s);
  wchar_t* d = (wchar_t*)alloc((n + 1) * 2);
  memcpy(d, s, n * 2);
  return d;
}
inline bool weq(const wchar_t* a, const wchar_t* b) {
  if (!a || !b) return (a ? *a : 0) == 0 && (b ? *b : 0) == 0;  // NULL == ""
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
inline bool ceq(const char* a, const char* b) { while (*a && *a == *b) ++a, ++b; return *a == *b; }
inline bool wcontains(const wchar_t* s, wchar_t c) { if (s) for (; *s; ++s) if (*s == c) return true; return false; }
inline bool guideq(const GUID& a, const GUID& b) {
  const unsigned char* x = (const unsigned char*)&a; const unsigned char* y = (const unsigned char*)&b;
  for (int i = 0; i < 16; ++i) if (x[i] != y[i]) return false;
  return true;
}

// Growable byte/char buffer (UTF-8 text).
struct Buf {
  char* p; SIZE_T n; SIZE_T cap;
  void reserve(SIZE_T m) { if (m + 1 > cap) { SIZE_T c = cap ? cap * 2 : 256; while (c < m + 1) c *= 2; p = (char*)realloc(p, c); cap = c; } }
  void add(const char* s, SIZE_T k) { reserve(n + k); memcpy(p + n, s, k); n += k; p[n] = 0; }
  void add(const char* s) { add(s, clen(s)); }
  void ch(char c) { add(&c, 1); }
  void num(long long v) { char t[24]; int i = 23; t[i] = 0; bool neg = v < 0; unsigned long long u = neg ? 0ull - (unsigned long long)v : (unsigned long long)v; do { t[--i] = (char)('0' + u % 10); u /= 10; } while (u); if (neg) t[--i] = '-'; add(t + i); }
  void hex32(unsigned long v) { char t[11] = "0x00000000"; for (int i = 0; i < 8; ++i) t[9 - i] = "0123456789ABCDEF"[(v >> (4 * i)) & 15]; add(t); }
  void wide(const wchar_t* s) {  // UTF-16 -> UTF-8
    if (!s || !*s) return;
    int k = WideCharToMultiByte(CP_UTF8, 0, s, -1, nullptr, 0, nullptr, nullptr);
    reserve(n + k); WideCharToMultiByte(CP_UTF8, 0, s, -1, p + n, k, nullptr, nullptr); n += k - 1; p[n] = 0;
  }
  void guid(const GUID& g) {  // no braces, upper case, as VSS writes GUIDs in XML
    char t[37]; static const char* hx = "0123456789ABCDEF"; int o = 0;
    auto h = [&](unsigned long long v, int digits) { for (int i = digits - 1; i >= 0; --i) t[o++] = hx[(v >> (4 * i)) & 15]; };
    h(g.Data1, 8); t[o++] = '-'; h(g.Data2, 4); t[o++] = '-'; h(g.Data3, 4); t[o++] = '-';
    h(g.Data4[0], 2); h(g.Data4[1], 2); t[o++] = '-'; for (int i = 2; i < 8; ++i) h(g.Data4[i], 2);
    t[o] = 0; add(t);
  }
  void json_str(const wchar_t* s) {  // JSON string literal from UTF-16 (null -> null)
    if (!s) { add("null"); return; }
    Buf u{}; u.wide(s); json_cstr(u.p ? u.p : ""); u.release();
  }
  void json_cstr(const char* s) {
    ch('"');
    for (; *s; ++s) {
      unsigned char c = (unsigned char)*s;
      if (c == '"' || c == '\\') { ch('\\'); ch((char)c); }
      else if (c == '\n') add("\\n"); else if (c == '\r') add("\\r"); else if (c == '\t') add("\\t");
      else if (c < 0x20) { add("\\u00"); ch("0123456789abcdef"[c >> 4]); ch("0123456789abcdef"[c & 15]); }
      else ch((char)c);
    }
    ch('"');
  }
  void release() { free(p); p = nullptr; n = cap = 0; }
};

// Growable UTF-16 buffer (XML documents handed out as BSTR).
struct WBuf {
  wchar_t* p; SIZE_T n; SIZE_T cap;
  void reserve(SIZE_T m) { if (m + 1 > cap) { SIZE_T c = cap ? cap * 2 : 256; while (c < m + 1) c *= 2; p = (wchar_t*)realloc(p, c * 2); cap = c; } }
  void add(const wchar_t* s) { SIZE_T k = wlen(s); reserve(n + k); memcpy(p + n, s, k * 2); n += k; p[n] = 0; }
  void addc(const char* s) { for (; *s; ++s) { reserve(n + 1); p[n++] = (wchar_t)(unsigned char)*s; p[n] = 0; } }
  void attr(const char* name, const wchar_t* v) {  // ` name="escaped"` ; skipped when v is NULL
    if (!v) return;
    addc(" "); addc(name); addc("=\"");
    for (; *v; ++v) {
      if (*v == '&') addc("&amp;"); else if (*v == '<') addc("&lt;"); else if (*v == '>') addc("&gt;"); else if (*v == '"') addc("&quot;");
      else { reserve(n + 1); p[n++] = *v; p[n] = 0; }
    }
    addc("\"");
  }
  void attrc(const char* name, const char* v) { addc(" "); addc(name); addc("=\""); addc(v); addc("\""); }
  void attrn(const char* name, long long v) { Buf b{}; b.num(v); attrc(name, b.p); b.release(); }
  void attrg(const char* name, const GUID& g) { Buf b{}; b.guid(g); attrc(name, b.p); b.release(); }
  void release() { free(p); p = nullptr; n = cap = 0; }
};

// Vector of trivially copyable T.
template <class T> struct Vec {
  T* p; UINT n; UINT cap;
  T& push() { if (n == cap) { cap = cap ? cap * 2 : 8; p = (T*)realloc(p, sizeof(T) * cap); } memset(&p[n], 0, sizeof(T)); return p[n++]; }
  T& operator[](UINT i) { return p[i]; }
};

inline wchar_t* env(const wchar_t* name) {  // caller frees
  DWORD k = GetEnvironmentVariableW(name, nullptr, 0);
  if (!k) return nullptr;
  wchar_t* v = (wchar_t*)alloc(k * 2 + 2);
  GetEnvironmentVariableW(name, v, k);
  return v;
}
inline char* read_file(const wchar_t* path, DWORD* size) {  // caller frees; NUL-terminated
  HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) return nullptr;
  DWORD sz = GetFileSize(h, nullptr), got = 0;
  char* b = (char*)alloc(sz + 2);
  ReadFile(h, b, sz, &got, nullptr);
  CloseHandle(h);
  b[got] = 0;
  if (size) *size = got;
  return b;
}
inline wchar_t* utf8_to_wide(const char* s) {
  int k = MultiByteToWideChar(CP_UTF8, 0, s, -1, nullptr, 0);
  wchar_t* w = (wchar_t*)alloc(k * 2 + 2);
  MultiByteToWideChar(CP_UTF8, 0, s, -1, w, k);
  return w;
}
}  // namespace rt
