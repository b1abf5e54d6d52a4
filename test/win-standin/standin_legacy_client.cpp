// Test-only: a client of MinGW-w64's libvssapi.a legacy exports (the pre-Vista out-of-line
// CVssWriter members, CreateWriterEx, CreateVssExamineWriterMetadataInternal), imported by their
// mangled names. Kept apart from standin_client.cpp, whose SDK CVssWriter defines inline members
// with some of the same mangled names. Imports make the client load only if the stand-in exports them.
#include "vss_abi.h"

extern "C" void* __cdecl memset(void*, int, SIZE_T);
extern "C" __declspec(dllimport) void* legacyCtor(void* self) __asm__("??0CVssWriter@@QEAA@XZ");
extern "C" __declspec(dllimport) HRESULT legacySubscribe(void* self, DWORD flags) __asm__("?Subscribe@CVssWriter@@QEAAJK@Z");
extern "C" __declspec(dllimport) GUID* legacyGetCurrentSnapshotSetId(const void* self, GUID* ret)
    __asm__("?GetCurrentSnapshotSetId@CVssWriter@@IEBA?AU_GUID@@XZ");
extern "C" __declspec(dllimport) HRESULT WINAPI CreateWriterEx(void* writer, void** impl);
extern "C" __declspec(dllimport) HRESULT WINAPI CreateVssExamineWriterMetadataInternal(BSTR xml, void** out);

static bool isNullGuid(const GUID& g) {
  const unsigned char* p = (const unsigned char*)&g;
  for (int i = 0; i < 16; ++i) if (p[i]) return false;
  return true;
}

extern "C" int runLegacy(void (*note)(const char*, HRESULT)) {
  void* obj[2] = {};
  note("legacy.ctorReturnsThis", legacyCtor(obj) == obj ? S_OK : S_FALSE);
  note("legacy.Subscribe", legacySubscribe(obj, 6));
  GUID g; memset(&g, 0xAB, sizeof g);
  GUID* r = legacyGetCurrentSnapshotSetId(obj, &g);
  note("legacy.GetCurrentSnapshotSetId", (r == &g && isNullGuid(g)) ? S_OK : S_FALSE);
  void* out = &g;
  note("legacy.CreateWriterEx", CreateWriterEx(obj, &out));
  note("legacy.CreateWriterEx.outNull", out == nullptr ? S_OK : S_FALSE);
  out = &g;
  note("legacy.CreateVssExamineWriterMetadataInternal", CreateVssExamineWriterMetadataInternal(nullptr, &out));
  return 0;
}
