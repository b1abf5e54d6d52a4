// Test-only ABI oracle: the Windows SDK's CVssWriter class (um/vswriter.h, Windows 10 SDK), in
// the SDK's declaration order, for clang++ --target=x86_64-pc-windows-msvc.
//
// Source: the SDK header vswriter.h as stored in the search tool's code corpus (file id
// 37204542783, "class CVssWriter" near the end, after `extern "C" HRESULT STDAPICALLTYPE
// CreateWriter(CVssWriter* pWriter, IVssWriterImpl** pWriterImpl);`). What the SDK says:
//  - every CVssWriter member except the virtual event handlers is an INLINE function defined in
//    the header; nothing of CVssWriter is imported from vssapi.dll except through CreateWriter;
//  - the constructor sets m_pWriterImpl = NULL; the virtual destructor calls
//    m_pWriterImpl->Uninitialize() then Release();
//  - Initialize() fails with E_FAIL if already initialised, calls the exported C function
//    CreateWriter(this, &m_pWriterImpl), then
//    m_pWriterImpl->Initialize(WriterId, wszWriterName, wszWriterInstanceName, 0, 0, ut, st,
//    nLevel, dwTimeoutFreeze, aws, bIOThrottlingOnly), releasing the impl on failure;
//  - Subscribe(flags) forwards as m_pWriterImpl->Subscribe(0, flags); Unsubscribe() calls
//    m_pWriterImpl->Unsubscribe() and returns S_OK whatever it returned;
//  - the protected getters forward to m_pWriterImpl and, when it is NULL, answer
//    NULL / 0 / E_FAIL / GUID_NULL / 0 / VSS_APP_AUTO / false / false / false /
//    VSS_BT_UNDEFINED / VSS_RTYPE_UNDEFINED / false / E_FAIL (SetWriterFailure);
//  - OnIdentify, OnPrepareBackup, OnBackupComplete, OnBackupShutdown, OnPreRestore,
//    OnPostRestore, OnPostSnapshot, OnBackOffIOOnVolume, OnContinueIOOnVolume, OnVSSShutdown,
//    OnVSSApplicationStartup have default bodies returning true; OnPrepareSnapshot, OnFreeze,
//    OnThaw, OnAbort are pure virtual.
// Note the SDK names IVssWriterImpl's slot 21 GetIdentityInformation (not "GetIdentify..."): 0-based
// vtable slot, counting QueryInterface/AddRef/Release as 0-2 (vtable-oracle.mjs prints the same).
//
// x64 only: the SDK declares IVssWriterImpl's methods without STDMETHODCALLTYPE, so on x86 they
// are __thiscall while CVssWriter's are __stdcall; this header (and the stand-in) is compiled and
// checked for x86_64-pc-windows-msvc only, where there is a single calling convention.
#pragma once
#include "vss_abi.h"

class CVssWriter;
// The stand-in defines CreateWriter itself (dllexport); every other user imports it.
#ifndef VSS_STANDIN_CREATEWRITER_DECL
#define VSS_STANDIN_CREATEWRITER_DECL __declspec(dllimport)
#endif
extern "C" {
// vswriter.h: HRESULT STDAPICALLTYPE CreateWriter(_In_ CVssWriter* pWriter, _Out_ IVssWriterImpl** pWriterImpl);
VSS_STANDIN_CREATEWRITER_DECL HRESULT WINAPI CreateWriter(CVssWriter* pWriter, IVssWriterImpl** pWriterImpl);
}

class CVssWriter {
 public:
  STDMETHODCALLTYPE CVssWriter() : m_pWriterImpl(0) {}
  virtual STDMETHODCALLTYPE ~CVssWriter() {
    if (m_pWriterImpl != 0) {
      m_pWriterImpl->Uninitialize();
      m_pWriterImpl->Release();
      m_pWriterImpl = 0;
    }
  }

 public:
  HRESULT STDMETHODCALLTYPE Initialize(VSS_ID WriterId, LPCWSTR wszWriterName, VSS_USAGE_TYPE ut, VSS_SOURCE_TYPE st,
                                       VSS_APPLICATION_LEVEL nLevel = VSS_APP_FRONT_END, DWORD dwTimeoutFreeze = 60000,
                                       VSS_ALTERNATE_WRITER_STATE aws = VSS_AWS_NO_ALTERNATE_WRITER,
                                       bool bIOThrottlingOnly = false, LPCWSTR wszWriterInstanceName = 0) {
    if (m_pWriterImpl != 0) return E_FAIL;
    HRESULT hr = CreateWriter(this, &m_pWriterImpl);
    if (FAILED(hr)) return hr;
    hr = m_pWriterImpl->Initialize(WriterId, wszWriterName, wszWriterInstanceName, 0, 0, ut, st, nLevel,
                                   dwTimeoutFreeze, aws, bIOThrottlingOnly);
    if (FAILED(hr)) {
      m_pWriterImpl->Release();
      m_pWriterImpl = 0;
    }
    return hr;
  }
  HRESULT STDMETHODCALLTYPE Subscribe(DWORD dwEventFlags = VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG) {
    if (m_pWriterImpl == 0) return E_FAIL;
    return m_pWriterImpl->Subscribe(0, dwEventFlags);
  }
  HRESULT STDMETHODCALLTYPE Unsubscribe() {
    if (m_pWriterImpl == 0) return E_FAIL;
    m_pWriterImpl->Unsubscribe();
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE InstallAlternateWriter(VSS_ID writerId, CLSID persistentWriterClassId) {
    if (m_pWriterImpl == 0) return E_FAIL;
    return m_pWriterImpl->InstallAlternateWriter(writerId, persistentWriterClassId);
  }

 protected:
  LPCWSTR* STDMETHODCALLTYPE GetCurrentVolumeArray() const { return m_pWriterImpl ? m_pWriterImpl->GetCurrentVolumeArray() : 0; }
  UINT STDMETHODCALLTYPE GetCurrentVolumeCount() const { return m_pWriterImpl ? m_pWriterImpl->GetCurrentVolumeCount() : 0; }
  HRESULT STDMETHODCALLTYPE GetSnapshotDeviceName(LPCWSTR wszOriginalVolume, LPCWSTR* ppwszSnapshotDevice) const {
    if (m_pWriterImpl == 0) return E_FAIL;
    return m_pWriterImpl->GetSnapshotDeviceName(wszOriginalVolume, ppwszSnapshotDevice);
  }
  VSS_ID STDMETHODCALLTYPE GetCurrentSnapshotSetId() const {
    if (m_pWriterImpl == 0) return GUID_NULL;
    return m_pWriterImpl->GetCurrentSnapshotSetId();
  }
  LONG STDMETHODCALLTYPE GetContext() const { return m_pWriterImpl ? m_pWriterImpl->GetContext() : 0; }
  VSS_APPLICATION_LEVEL STDMETHODCALLTYPE GetCurrentLevel() const { return m_pWriterImpl ? m_pWriterImpl->GetCurrentLevel() : VSS_APP_AUTO; }
  bool STDMETHODCALLTYPE IsPathAffected(LPCWSTR wszPath) const { return m_pWriterImpl ? m_pWriterImpl->IsPathAffected(wszPath) : false; }
  bool STDMETHODCALLTYPE IsBootableSystemStateBackedUp() const { return m_pWriterImpl ? m_pWriterImpl->IsBootableSystemStateBackedUp() : false; }
  bool STDMETHODCALLTYPE AreComponentsSelected() const { return m_pWriterImpl ? m_pWriterImpl->AreComponentsSelected() : false; }
  VSS_BACKUP_TYPE STDMETHODCALLTYPE GetBackupType() const { return m_pWriterImpl ? m_pWriterImpl->GetBackupType() : VSS_BT_UNDEFINED; }
  VSS_RESTORE_TYPE STDMETHODCALLTYPE GetRestoreType() const { return m_pWriterImpl ? m_pWriterImpl->GetRestoreType() : VSS_RTYPE_UNDEFINED; }
  bool STDMETHODCALLTYPE IsPartialFileSupportEnabled() const { return m_pWriterImpl ? m_pWriterImpl->IsPartialFileSupportEnabled() : false; }
  HRESULT STDMETHODCALLTYPE SetWriterFailure(HRESULT hr) {
    if (m_pWriterImpl == 0) return E_FAIL;
    return m_pWriterImpl->SetWriterFailure(hr);
  }

 public:
  // Virtual slots, SDK order: [0] scalar deleting destructor, then these 15.
  virtual bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* pMetadata) { UNREFERENCED_PARAMETER(pMetadata); return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents* pComponent) { UNREFERENCED_PARAMETER(pComponent); return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareSnapshot() = 0;
  virtual bool STDMETHODCALLTYPE OnFreeze() = 0;
  virtual bool STDMETHODCALLTYPE OnThaw() = 0;
  virtual bool STDMETHODCALLTYPE OnAbort() = 0;
  virtual bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents* pComponent) { UNREFERENCED_PARAMETER(pComponent); return true; }
  virtual bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID SnapshotSetId) { UNREFERENCED_PARAMETER(SnapshotSetId); return true; }
  virtual bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents* pComponent) { UNREFERENCED_PARAMETER(pComponent); return true; }
  virtual bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents* pComponent) { UNREFERENCED_PARAMETER(pComponent); return true; }
  virtual bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents* pComponent) { UNREFERENCED_PARAMETER(pComponent); return true; }
  virtual bool STDMETHODCALLTYPE OnBackOffIOOnVolume(VSS_PWSZ wszVolumeName, VSS_ID snapshotId, VSS_ID providerId) {
    UNREFERENCED_PARAMETER(wszVolumeName); UNREFERENCED_PARAMETER(snapshotId); UNREFERENCED_PARAMETER(providerId); return true;
  }
  virtual bool STDMETHODCALLTYPE OnContinueIOOnVolume(VSS_PWSZ wszVolumeName, VSS_ID snapshotId, VSS_ID providerId) {
    UNREFERENCED_PARAMETER(wszVolumeName); UNREFERENCED_PARAMETER(snapshotId); UNREFERENCED_PARAMETER(providerId); return true;
  }
  virtual bool STDMETHODCALLTYPE OnVSSShutdown() { return true; }
  virtual bool STDMETHODCALLTYPE OnVSSApplicationStartup() { return true; }

 protected:
  IVssWriterImpl* m_pWriterImpl;
};
