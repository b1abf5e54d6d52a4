#pragma once
// The layout vssapi.dll (built with MSVC) expects of a writer object: the Windows SDK's CVssWriter
// (um/vswriter.h), declared here so that MinGW-w64's g++ gives it the same vtable and the same
// member offsets. vssapi calls the writer only through this vtable and reads m_pWriterImpl.
//  - MSVC gives CVssWriter's virtual destructor ONE vtable slot (the scalar deleting destructor);
//    g++ would give a virtual destructor two, shifting every handler by one. So there is no
//    virtual destructor here: a placeholder virtual takes MSVC's slot, and VSS never deletes a
//    writer (its owner does, through the concrete type).
//  - then the handlers in the SDK's declaration order, then IVssWriterImpl* m_pWriterImpl at 8.
// A VSS_ID passed by value (OnBackupShutdown) arrives, in both compilers' Microsoft x64
// convention, as a pointer to a caller-made copy in the register after `this`.
// test/native/abi-oracle.test.ts compiles this header and checks it, slot by slot, against the
// MSVC layout of the SDK's declaration (test/win-standin/vtable-oracle.mjs).
#include <windows.h>
#include <vss.h>
#include <vswriter.h>

namespace mbam {
namespace win {

class VssWriterAbi {
 public:
  virtual void STDMETHODCALLTYPE MsvcDestructorSlot(unsigned int /*flags*/) {}
  virtual bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* /*metadata*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPrepareSnapshot() = 0;
  virtual bool STDMETHODCALLTYPE OnFreeze() = 0;
  virtual bool STDMETHODCALLTYPE OnThaw() = 0;
  virtual bool STDMETHODCALLTYPE OnAbort() = 0;
  virtual bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID /*snapshotSetId*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents* /*components*/) { return true; }
  virtual bool STDMETHODCALLTYPE OnBackOffIOOnVolume(VSS_PWSZ, VSS_ID, VSS_ID) { return true; }
  virtual bool STDMETHODCALLTYPE OnContinueIOOnVolume(VSS_PWSZ, VSS_ID, VSS_ID) { return true; }
  virtual bool STDMETHODCALLTYPE OnVSSShutdown() { return true; }
  virtual bool STDMETHODCALLTYPE OnVSSApplicationStartup() { return true; }

 protected:
  VssWriterAbi() = default;
  ~VssWriterAbi() = default;  // deliberately not virtual: see above
  IVssWriterImpl* m_pWriterImpl = nullptr;
};

// vptr + m_pWriterImpl, as the SDK's CVssWriter.
static_assert(sizeof(VssWriterAbi) == 2 * sizeof(void*), "CVssWriter layout: vtable pointer then IVssWriterImpl*");

// The SDK's inline CVssWriter::Initialize calls this export of vssapi.dll.
using CreateWriterFn = HRESULT(STDAPICALLTYPE*)(VssWriterAbi*, IVssWriterImpl**);

}  // namespace win
}  // namespace mbam
