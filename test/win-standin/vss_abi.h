// Test-only. Self-contained declarations of the Win32/COM/VSS types the stand-in and its test
// client need, written for clang++ --target=x86_64-pc-windows-msvc (MSVC C++ ABI).
//
// Why not <windows.h>/<vss.h> from MinGW-w64: under clang's MSVC target MinGW's winnt.h drags in
// clang's x86 intrinsics headers in a way that does not compile (checked: mmintrin.h errors), so
// the few types needed are declared here. Every interface below is in the slot order of the
// Windows SDK header named next to it (vswriter.h / vsbackup.h / vss.h); MinGW-w64's headers
// (/usr/share/mingw-w64/include) carry the same order and were used to cross-check.
//
// Where the SDK declares a base-less class (IVssCreateWriterMetadata, IVssWriterComponents in
// vswriter.h: "class IVssWriterComponents {" / "class IVssCreateWriterMetadata {"), it is
// base-less here too: those two have NO IUnknown slots, their first method is slot 0.
#pragma once

typedef unsigned long DWORD;  // LLP64: long is 32-bit under the MSVC target
typedef long LONG;
typedef long HRESULT;
typedef unsigned int UINT;
typedef int INT;
typedef int BOOL;
typedef unsigned char BYTE;
typedef unsigned short WORD;
typedef unsigned long long ULONG_PTR;
typedef unsigned long long SIZE_T;
typedef unsigned long ULONG;
typedef wchar_t WCHAR;
typedef const wchar_t* LPCWSTR;
typedef wchar_t* LPWSTR;
typedef wchar_t* VSS_PWSZ;
typedef wchar_t* BSTR;
typedef void* HANDLE;
typedef void* HMODULE;

#define STDMETHODCALLTYPE __stdcall  // ignored on x64; kept to mirror the SDK spelling
#define STDMETHOD(name) virtual HRESULT STDMETHODCALLTYPE name
#define WINAPI __stdcall
#define WINBASEAPI extern "C" __declspec(dllimport)

struct GUID {
  unsigned long Data1;
  unsigned short Data2;
  unsigned short Data3;
  unsigned char Data4[8];
};
typedef GUID IID;
typedef GUID CLSID;
typedef GUID VSS_ID;
struct FILETIME { DWORD dwLowDateTime; DWORD dwHighDateTime; };

#define S_OK ((HRESULT)0)
#define S_FALSE ((HRESULT)1)
#define E_NOTIMPL ((HRESULT)0x80004001L)
#define E_NOINTERFACE ((HRESULT)0x80004002L)
#define E_POINTER ((HRESULT)0x80004003L)
#define E_FAIL ((HRESULT)0x80004005L)
#define E_ACCESSDENIED ((HRESULT)0x80070005L)
#define E_OUTOFMEMORY ((HRESULT)0x8007000EL)
#define E_INVALIDARG ((HRESULT)0x80070057L)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)

// vsserror.h (values cross-checked with MinGW-w64's vsserror.h)
#define VSS_E_BAD_STATE ((HRESULT)0x80042301L)
#define VSS_E_UNEXPECTED ((HRESULT)0x80042302L)
#define VSS_E_OBJECT_NOT_FOUND ((HRESULT)0x80042308L)
#define VSS_S_ASYNC_PENDING ((HRESULT)0x00042309L)
#define VSS_S_ASYNC_FINISHED ((HRESULT)0x0004230AL)
#define VSS_S_ASYNC_CANCELLED ((HRESULT)0x0004230BL)
#define VSS_E_OBJECT_ALREADY_EXISTS ((HRESULT)0x8004230DL)
#define VSS_E_INVALID_XML_DOCUMENT ((HRESULT)0x80042311L)
#define VSS_E_WRITER_ALREADY_SUBSCRIBED ((HRESULT)0x8004231AL)
#define VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT ((HRESULT)0x800423F0L)
#define VSS_E_WRITERERROR_OUTOFRESOURCES ((HRESULT)0x800423F1L)
#define VSS_E_WRITERERROR_TIMEOUT ((HRESULT)0x800423F2L)
#define VSS_E_WRITERERROR_RETRYABLE ((HRESULT)0x800423F3L)
#define VSS_E_WRITERERROR_NONRETRYABLE ((HRESULT)0x800423F4L)

// vss.h / vswriter.h enums
enum VSS_USAGE_TYPE { VSS_UT_UNDEFINED = 0, VSS_UT_BOOTABLESYSTEMSTATE, VSS_UT_SYSTEMSERVICE, VSS_UT_USERDATA, VSS_UT_OTHER };
enum VSS_SOURCE_TYPE { VSS_ST_UNDEFINED = 0, VSS_ST_TRANSACTEDDB, VSS_ST_NONTRANSACTEDDB, VSS_ST_OTHER };
enum VSS_RESTOREMETHOD_ENUM {
  VSS_RME_UNDEFINED = 0, VSS_RME_RESTORE_IF_NOT_THERE, VSS_RME_RESTORE_IF_CAN_REPLACE, VSS_RME_STOP_RESTORE_START,
  VSS_RME_RESTORE_TO_ALTERNATE_LOCATION, VSS_RME_RESTORE_AT_REBOOT, VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE,
  VSS_RME_CUSTOM, VSS_RME_RESTORE_STOP_START
};
enum VSS_WRITERRESTORE_ENUM { VSS_WRE_UNDEFINED = 0, VSS_WRE_NEVER, VSS_WRE_IF_REPLACE_FAILS, VSS_WRE_ALWAYS };
enum VSS_COMPONENT_TYPE { VSS_CT_UNDEFINED = 0, VSS_CT_DATABASE, VSS_CT_FILEGROUP };
enum VSS_ALTERNATE_WRITER_STATE { VSS_AWS_UNDEFINED = 0, VSS_AWS_NO_ALTERNATE_WRITER, VSS_AWS_ALTERNATE_WRITER_EXISTS, VSS_AWS_THIS_IS_ALTERNATE_WRITER };
enum VSS_SUBSCRIBE_MASK { VSS_SM_POST_SNAPSHOT_FLAG = 1, VSS_SM_BACKUP_EVENTS_FLAG = 2, VSS_SM_RESTORE_EVENTS_FLAG = 4, VSS_SM_IO_THROTTLING_FLAG = 8, VSS_SM_ALL_FLAGS = (int)0xffffffff };
enum VSS_RESTORE_TARGET { VSS_RT_UNDEFINED = 0, VSS_RT_ORIGINAL, VSS_RT_ALTERNATE, VSS_RT_DIRECTED, VSS_RT_ORIGINAL_LOCATION };
enum VSS_FILE_RESTORE_STATUS { VSS_RS_UNDEFINED = 0, VSS_RS_NONE, VSS_RS_ALL, VSS_RS_FAILED };
enum VSS_COMPONENT_FLAGS { VSS_CF_BACKUP_RECOVERY = 1, VSS_CF_APP_ROLLBACK_RECOVERY = 2, VSS_CF_NOT_SYSTEM_STATE = 4 };
enum VSS_BACKUP_TYPE { VSS_BT_UNDEFINED = 0, VSS_BT_FULL, VSS_BT_INCREMENTAL, VSS_BT_DIFFERENTIAL, VSS_BT_LOG, VSS_BT_COPY, VSS_BT_OTHER };
enum VSS_RESTORE_TYPE { VSS_RTYPE_UNDEFINED = 0, VSS_RTYPE_BY_COPY, VSS_RTYPE_IMPORT, VSS_RTYPE_OTHER };
enum VSS_APPLICATION_LEVEL { VSS_APP_UNKNOWN = 0, VSS_APP_SYSTEM = 1, VSS_APP_BACK_END = 2, VSS_APP_FRONT_END = 3, VSS_APP_SYSTEM_RM = 4, VSS_APP_AUTO = -1 };
enum VSS_ROLLFORWARD_TYPE { VSS_RF_UNDEFINED = 0, VSS_RF_NONE, VSS_RF_ALL, VSS_RF_PARTIAL };
enum VSS_WRITER_STATE {
  VSS_WS_UNKNOWN = 0, VSS_WS_STABLE, VSS_WS_WAITING_FOR_FREEZE, VSS_WS_WAITING_FOR_THAW, VSS_WS_WAITING_FOR_POST_SNAPSHOT,
  VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_WS_FAILED_AT_IDENTIFY, VSS_WS_FAILED_AT_PREPARE_BACKUP,
  VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, VSS_WS_FAILED_AT_FREEZE, VSS_WS_FAILED_AT_THAW, VSS_WS_FAILED_AT_POST_SNAPSHOT,
  VSS_WS_FAILED_AT_BACKUP_COMPLETE, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_WS_FAILED_AT_POST_RESTORE,
  VSS_WS_FAILED_AT_BACKUPSHUTDOWN, VSS_WS_COUNT
};
// vss.h VSS_FILE_SPEC_BACKUP_TYPE
#define VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED 0x2
#define VSS_FSBT_INCREMENTAL_BACKUP_REQUIRED 0x4
#define VSS_FSBT_LOG_BACKUP_REQUIRED 0x8
#define VSS_FSBT_ALL_BACKUP_REQUIRED 0xf
#define VSS_FSBT_ALL_SNAPSHOT_REQUIRED 0xf00
// vss.h VSS_BACKUP_SCHEMA (only the bits express writers may use are named)
#define VSS_BS_UNDEFINED 0x0
#define VSS_BS_COPY 0x10
#define VSS_BS_INDEPENDENT_SYSTEM_STATE 0x400

// unknwn.h
class IUnknown {
 public:
  virtual HRESULT STDMETHODCALLTYPE QueryInterface(const IID& riid, void** ppv) = 0;
  virtual ULONG STDMETHODCALLTYPE AddRef() = 0;
  virtual ULONG STDMETHODCALLTYPE Release() = 0;
};
class IXMLDOMDocument;  // only ever passed as a pointer; the stand-in answers E_NOTIMPL
class IVssExamineWriterMetadata;

// vswriter.h: class IVssWMFiledesc : public IUnknown
class IVssWMFiledesc : public IUnknown {
 public:
  STDMETHOD(GetPath)(BSTR* pbstrPath) = 0;
  STDMETHOD(GetFilespec)(BSTR* pbstrFilespec) = 0;
  STDMETHOD(GetRecursive)(bool* pbRecursive) = 0;
  STDMETHOD(GetAlternateLocation)(BSTR* pbstrAlternateLocation) = 0;
  STDMETHOD(GetBackupTypeMask)(DWORD* pdwTypeMask) = 0;
};

// vswriter.h: class IVssComponent : public IUnknown (uuid d2c72c96-c121-4518-b627-e5a93d010ead)
class IVssComponent : public IUnknown {
 public:
  STDMETHOD(GetLogicalPath)(BSTR* pbstrPath) = 0;
  STDMETHOD(GetComponentType)(VSS_COMPONENT_TYPE* pct) = 0;
  STDMETHOD(GetComponentName)(BSTR* pbstrName) = 0;
  STDMETHOD(GetBackupSucceeded)(bool* pbSucceeded) = 0;
  STDMETHOD(GetAlternateLocationMappingCount)(UINT* pcMappings) = 0;
  STDMETHOD(GetAlternateLocationMapping)(UINT iMapping, IVssWMFiledesc** ppFiledesc) = 0;
  STDMETHOD(SetBackupMetadata)(LPCWSTR wszData) = 0;
  STDMETHOD(GetBackupMetadata)(BSTR* pbstrData) = 0;
  STDMETHOD(AddPartialFile)(LPCWSTR wszPath, LPCWSTR wszFilename, LPCWSTR wszRanges, LPCWSTR wszMetadata) = 0;
  STDMETHOD(GetPartialFileCount)(UINT* pcPartialFiles) = 0;
  STDMETHOD(GetPartialFile)(UINT iPartialFile, BSTR* pbstrPath, BSTR* pbstrFilename, BSTR* pbstrRange, BSTR* pbstrMetadata) = 0;
  STDMETHOD(IsSelectedForRestore)(bool* pbSelectedForRestore) = 0;
  STDMETHOD(GetAdditionalRestores)(bool* pbAdditionalRestores) = 0;
  STDMETHOD(GetNewTargetCount)(UINT* pcNewTarget) = 0;
  STDMETHOD(GetNewTarget)(UINT iNewTarget, IVssWMFiledesc** ppFiledesc) = 0;
  STDMETHOD(AddDirectedTarget)(LPCWSTR wszSourcePath, LPCWSTR wszSourceFilename, LPCWSTR wszSourceRangeList, LPCWSTR wszDestinationPath, LPCWSTR wszDestinationFilename, LPCWSTR wszDestinationRangeList) = 0;
  STDMETHOD(GetDirectedTargetCount)(UINT* pcDirectedTarget) = 0;
  STDMETHOD(GetDirectedTarget)(UINT iDirectedTarget, BSTR* pbstrSourcePath, BSTR* pbstrSourceFileName, BSTR* pbstrSourceRangeList, BSTR* pbstrDestinationPath, BSTR* pbstrDestinationFilename, BSTR* pbstrDestinationRangeList) = 0;
  STDMETHOD(SetRestoreMetadata)(LPCWSTR wszRestoreMetadata) = 0;
  STDMETHOD(GetRestoreMetadata)(BSTR* pbstrRestoreMetadata) = 0;
  STDMETHOD(SetRestoreTarget)(VSS_RESTORE_TARGET target) = 0;
  STDMETHOD(GetRestoreTarget)(VSS_RESTORE_TARGET* pTarget) = 0;
  STDMETHOD(SetPreRestoreFailureMsg)(LPCWSTR wszPreRestoreFailureMsg) = 0;
  STDMETHOD(GetPreRestoreFailureMsg)(BSTR* pbstrPreRestoreFailureMsg) = 0;
  STDMETHOD(SetPostRestoreFailureMsg)(LPCWSTR wszPostRestoreFailureMsg) = 0;
  STDMETHOD(GetPostRestoreFailureMsg)(BSTR* pbstrPostRestoreFailureMsg) = 0;
  STDMETHOD(SetBackupStamp)(LPCWSTR wszBackupStamp) = 0;
  STDMETHOD(GetBackupStamp)(BSTR* pbstrBackupStamp) = 0;
  STDMETHOD(GetPreviousBackupStamp)(BSTR* pbstrBackupStamp) = 0;
  STDMETHOD(GetBackupOptions)(BSTR* pbstrBackupOptions) = 0;
  STDMETHOD(GetRestoreOptions)(BSTR* pbstrRestoreOptions) = 0;
  STDMETHOD(GetRestoreSubcomponentCount)(UINT* pcRestoreSubcomponent) = 0;
  STDMETHOD(GetRestoreSubcomponent)(UINT iComponent, BSTR* pbstrLogicalPath, BSTR* pbstrComponentName, bool* pbRepair) = 0;
  STDMETHOD(GetFileRestoreStatus)(VSS_FILE_RESTORE_STATUS* pStatus) = 0;
  STDMETHOD(AddDifferencedFilesByLastModifyTime)(LPCWSTR wszPath, LPCWSTR wszFilespec, BOOL bRecursive, FILETIME ftLastModifyTime) = 0;
  STDMETHOD(AddDifferencedFilesByLastModifyLSN)(LPCWSTR wszPath, LPCWSTR wszFilespec, BOOL bRecursive, BSTR bstrLsnString) = 0;
  STDMETHOD(GetDifferencedFilesCount)(UINT* pcDifferencedFiles) = 0;
  STDMETHOD(GetDifferencedFile)(UINT iDifferencedFile, BSTR* pbstrPath, BSTR* pbstrFilespec, BOOL* pbRecursive, BSTR* pbstrLsnString, FILETIME* pftLastModifyTime) = 0;
};

// vswriter.h: "class IVssWriterComponents {" -- no IUnknown base.
class IVssWriterComponents {
 public:
  STDMETHOD(GetComponentCount)(UINT* pcComponents) = 0;
  STDMETHOD(GetWriterInfo)(VSS_ID* pidInstance, VSS_ID* pidWriter) = 0;
  STDMETHOD(GetComponent)(UINT iComponent, IVssComponent** ppComponent) = 0;
};

// vswriter.h: "class IVssCreateWriterMetadata {" -- no IUnknown base.
class IVssCreateWriterMetadata {
 public:
  STDMETHOD(AddIncludeFiles)(LPCWSTR wszPath, LPCWSTR wszFilespec, bool bRecursive, LPCWSTR wszAlternateLocation) = 0;
  STDMETHOD(AddExcludeFiles)(LPCWSTR wszPath, LPCWSTR wszFilespec, bool bRecursive) = 0;
  STDMETHOD(AddComponent)(VSS_COMPONENT_TYPE ct, LPCWSTR wszLogicalPath, LPCWSTR wszComponentName, LPCWSTR wszCaption,
                          const BYTE* pbIcon, UINT cbIcon, bool bRestoreMetadata, bool bNotifyOnBackupComplete,
                          bool bSelectable, bool bSelectableForRestore = false, DWORD dwComponentFlags = 0) = 0;
  STDMETHOD(AddDatabaseFiles)(LPCWSTR wszLogicalPath, LPCWSTR wszDatabaseName, LPCWSTR wszPath, LPCWSTR wszFilespec,
                              DWORD dwBackupTypeMask = (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)) = 0;
  STDMETHOD(AddDatabaseLogFiles)(LPCWSTR wszLogicalPath, LPCWSTR wszDatabaseName, LPCWSTR wszPath, LPCWSTR wszFilespec,
                                 DWORD dwBackupTypeMask = (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)) = 0;
  STDMETHOD(AddFilesToFileGroup)(LPCWSTR wszLogicalPath, LPCWSTR wszGroupName, LPCWSTR wszPath, LPCWSTR wszFilespec,
                                 bool bRecursive, LPCWSTR wszAlternateLocation,
                                 DWORD dwBackupTypeMask = (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)) = 0;
  STDMETHOD(SetRestoreMethod)(VSS_RESTOREMETHOD_ENUM method, LPCWSTR wszService, LPCWSTR wszUserProcedure,
                              VSS_WRITERRESTORE_ENUM writerRestore, bool bRebootRequired) = 0;
  STDMETHOD(AddAlternateLocationMapping)(LPCWSTR wszSourcePath, LPCWSTR wszSourceFilespec, bool bRecursive, LPCWSTR wszDestination) = 0;
  STDMETHOD(AddComponentDependency)(LPCWSTR wszForLogicalPath, LPCWSTR wszForComponentName, VSS_ID onWriterId,
                                    LPCWSTR wszOnLogicalPath, LPCWSTR wszOnComponentName) = 0;
  STDMETHOD(SetBackupSchema)(DWORD dwSchemaMask) = 0;
  STDMETHOD(GetDocument)(IXMLDOMDocument** pDoc) = 0;
  STDMETHOD(SaveAsXML)(BSTR* pbstrXML) = 0;
};

// vswriter.h: class IVssWriterImpl : public IUnknown. Note the SDK declares these with plain
// `virtual` (no STDMETHOD), several `const`; on x64 neither changes the slot or the convention.
class IVssWriterImpl : public IUnknown {
 public:
  virtual HRESULT Initialize(VSS_ID writerId, LPCWSTR wszWriterName, LPCWSTR wszWriterInstanceName, DWORD dwMajorVersion,
                             DWORD dwMinorVersion, VSS_USAGE_TYPE ut, VSS_SOURCE_TYPE st, VSS_APPLICATION_LEVEL nLevel,
                             DWORD dwTimeout, VSS_ALTERNATE_WRITER_STATE aws, bool bIOThrottlingOnly) = 0;
  virtual HRESULT Subscribe(DWORD dwSubscribeTimeout, DWORD dwEventFlags) = 0;
  virtual HRESULT Unsubscribe() = 0;
  virtual void Uninitialize() = 0;
  virtual LPCWSTR* GetCurrentVolumeArray() const = 0;
  virtual UINT GetCurrentVolumeCount() const = 0;
  virtual HRESULT GetSnapshotDeviceName(LPCWSTR wszOriginalVolume, LPCWSTR* ppwszSnapshotDevice) const = 0;
  virtual VSS_ID GetCurrentSnapshotSetId() const = 0;
  virtual LONG GetContext() const = 0;
  virtual VSS_APPLICATION_LEVEL GetCurrentLevel() const = 0;
  virtual bool IsPathAffected(LPCWSTR wszPath) const = 0;
  virtual bool IsBootableSystemStateBackedUp() const = 0;
  virtual bool AreComponentsSelected() const = 0;
  virtual VSS_BACKUP_TYPE GetBackupType() const = 0;
  virtual VSS_RESTORE_TYPE GetRestoreType() const = 0;
  virtual HRESULT SetWriterFailure(HRESULT hr) = 0;
  virtual bool IsPartialFileSupportEnabled() const = 0;
  virtual HRESULT InstallAlternateWriter(VSS_ID idWriter, CLSID clsid) = 0;
  virtual IVssExamineWriterMetadata* GetIdentityInformation() const = 0;
  virtual HRESULT SetWriterFailureEx(HRESULT hr, HRESULT hrApplication, LPCWSTR wszApplicationMessage) = 0;
  virtual HRESULT GetSessionId(VSS_ID* idSession) = 0;
  virtual bool IsWriterShuttingDown() = 0;
};

// vswriter.h: IVssCreateExpressWriterMetadata : public IUnknown (uuid 9c772e77-b26e-427f-92dd-c996f41ea5e3)
class IVssCreateExpressWriterMetadata : public IUnknown {
 public:
  STDMETHOD(AddExcludeFiles)(LPCWSTR wszPath, LPCWSTR wszFilespec, bool bRecursive) = 0;
  STDMETHOD(AddComponent)(VSS_COMPONENT_TYPE ct, LPCWSTR wszLogicalPath, LPCWSTR wszComponentName, LPCWSTR wszCaption,
                          const BYTE* pbIcon, UINT cbIcon, bool bRestoreMetadata, bool bNotifyOnBackupComplete,
                          bool bSelectable, bool bSelectableForRestore = false, DWORD dwComponentFlags = 0) = 0;
  STDMETHOD(AddFilesToFileGroup)(LPCWSTR wszLogicalPath, LPCWSTR wszGroupName, LPCWSTR wszPath, LPCWSTR wszFilespec,
                                 bool bRecursive, LPCWSTR wszAlternateLocation,
                                 DWORD dwBackupTypeMask = (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)) = 0;
  STDMETHOD(SetRestoreMethod)(VSS_RESTOREMETHOD_ENUM method, LPCWSTR wszService, LPCWSTR wszUserProcedure,
                              VSS_WRITERRESTORE_ENUM writerRestore, bool bRebootRequired) = 0;
  STDMETHOD(AddComponentDependency)(LPCWSTR wszForLogicalPath, LPCWSTR wszForComponentName, VSS_ID onWriterId,
                                    LPCWSTR wszOnLogicalPath, LPCWSTR wszOnComponentName) = 0;
  STDMETHOD(SetBackupSchema)(DWORD dwSchemaMask) = 0;
  STDMETHOD(SaveAsXML)(BSTR* pbstrXML) = 0;
};

// vswriter.h: IVssExpressWriter : public IUnknown (uuid e33affdc-59c7-47b1-97d5-4266598f6235)
class IVssExpressWriter : public IUnknown {
 public:
  STDMETHOD(CreateMetadata)(VSS_ID writerId, LPCWSTR writerName, VSS_USAGE_TYPE usageType, DWORD versionMajor,
                            DWORD versionMinor, DWORD reserved, IVssCreateExpressWriterMetadata** ppMetadata) = 0;
  STDMETHOD(LoadMetadata)(LPCWSTR metadata, DWORD reserved) = 0;
  STDMETHOD(Register)() = 0;
  STDMETHOD(Unregister)(VSS_ID writerId) = 0;
};

// vss.h: IVssAsync : public IUnknown (Cancel, Wait, QueryStatus)
class IVssAsync : public IUnknown {
 public:
  STDMETHOD(Cancel)() = 0;
  STDMETHOD(Wait)(DWORD dwMilliseconds = 0xffffffff) = 0;
  STDMETHOD(QueryStatus)(HRESULT* pHrResult, INT* pReserved) = 0;
};

// vsbackup.h: IVssExamineWriterMetadata : public IUnknown. Only GetIdentity, GetFileCounts,
// GetBackupSchema and SaveAsXML are given real signatures; the other slots are placeholders
// (x64: callee-cleanup does not exist, so a placeholder returning E_NOTIMPL is call-safe).
class IVssExamineWriterMetadata : public IUnknown {
 public:
  STDMETHOD(GetIdentity)(VSS_ID* pidInstance, VSS_ID* pidWriter, BSTR* pbstrWriterName, VSS_USAGE_TYPE* pUsage, VSS_SOURCE_TYPE* pSource) = 0;
  STDMETHOD(GetFileCounts)(UINT* pcIncludeFiles, UINT* pcExcludeFiles, UINT* pcComponents) = 0;
  STDMETHOD(GetIncludeFile_)() = 0;
  STDMETHOD(GetExcludeFile_)() = 0;
  STDMETHOD(GetComponent_)() = 0;
  STDMETHOD(GetRestoreMethod_)() = 0;
  STDMETHOD(GetAlternateLocationMapping_)() = 0;
  STDMETHOD(GetBackupSchema)(DWORD* pdwSchemaMask) = 0;
  STDMETHOD(GetDocument_)() = 0;
  STDMETHOD(SaveAsXML)(BSTR* pbstrXML) = 0;
  STDMETHOD(LoadFromXML)(BSTR bstrXML) = 0;
};

// vsbackup.h: IVssBackupComponents : public IUnknown -- 48 methods after IUnknown, in this order
// (MinGW-w64 vsbackup.h). Methods the stand-in does not model keep a placeholder name ending in _.
class IVssBackupComponents : public IUnknown {
 public:
  STDMETHOD(GetWriterComponentsCount_)() = 0;                 // 3
  STDMETHOD(GetWriterComponents_)() = 0;                      // 4
  STDMETHOD(InitializeForBackup)(BSTR bstrXML = 0) = 0;       // 5
  STDMETHOD(SetBackupState)(bool bSelectComponents, bool bBackupBootableSystemState, VSS_BACKUP_TYPE backupType,
                            bool bPartialFileSupport = false) = 0;  // 6
  STDMETHOD(InitializeForRestore_)() = 0;                     // 7
  STDMETHOD(SetRestoreState_)() = 0;                          // 8
  STDMETHOD(GatherWriterMetadata)(IVssAsync** pAsync) = 0;    // 9
  STDMETHOD(GetWriterMetadataCount)(UINT* pcWriters) = 0;     // 10
  STDMETHOD(GetWriterMetadata)(UINT iWriter, VSS_ID* pidInstance, IVssExamineWriterMetadata** ppMetadata) = 0;  // 11
  STDMETHOD(FreeWriterMetadata)() = 0;                        // 12
  STDMETHOD(AddComponent_)() = 0;                             // 13
  STDMETHOD(PrepareForBackup_)() = 0;                         // 14
  STDMETHOD(AbortBackup)() = 0;                               // 15
  STDMETHOD(GatherWriterStatus)(IVssAsync** pAsync) = 0;      // 16
  STDMETHOD(GetWriterStatusCount)(UINT* pcWriters) = 0;       // 17
  STDMETHOD(FreeWriterStatus)() = 0;                          // 18
  STDMETHOD(GetWriterStatus)(UINT iWriter, VSS_ID* pidInstance, VSS_ID* pidWriter, BSTR* pbstrWriter,
                             VSS_WRITER_STATE* pnStatus, HRESULT* phResultFailure) = 0;  // 19
  STDMETHOD(SetBackupSucceeded_)() = 0;                       // 20
  STDMETHOD(SetBackupOptions_)() = 0;                         // 21
  STDMETHOD(SetSelectedForRestore_)() = 0;                    // 22
  STDMETHOD(SetRestoreOptions_)() = 0;                        // 23
  STDMETHOD(SetAdditionalRestores_)() = 0;                    // 24
  STDMETHOD(SetPreviousBackupStamp_)() = 0;                   // 25
  STDMETHOD(SaveAsXML_)() = 0;                                // 26
  STDMETHOD(BackupComplete_)() = 0;                           // 27
  STDMETHOD(AddAlternativeLocationMapping_)() = 0;            // 28
  STDMETHOD(AddRestoreSubcomponent_)() = 0;                   // 29
  STDMETHOD(SetFileRestoreStatus_)() = 0;                     // 30
  STDMETHOD(AddNewTarget_)() = 0;                             // 31
  STDMETHOD(SetRangesFilePath_)() = 0;                        // 32
  STDMETHOD(PreRestore_)() = 0;                               // 33
  STDMETHOD(PostRestore_)() = 0;                              // 34
  STDMETHOD(SetContext)(LONG lContext) = 0;                   // 35
  STDMETHOD(StartSnapshotSet_)() = 0;                         // 36
  STDMETHOD(AddToSnapshotSet_)() = 0;                         // 37
  STDMETHOD(DoSnapshotSet_)() = 0;                            // 38
  STDMETHOD(DeleteSnapshots_)() = 0;                          // 39
  STDMETHOD(ImportSnapshots_)() = 0;                          // 40
  STDMETHOD(BreakSnapshotSet_)() = 0;                         // 41
  STDMETHOD(GetSnapshotProperties_)() = 0;                    // 42
  STDMETHOD(Query_)() = 0;                                    // 43
  STDMETHOD(IsVolumeSupported_)() = 0;                        // 44
  STDMETHOD(DisableWriterClasses_)() = 0;                     // 45
  STDMETHOD(EnableWriterClasses_)() = 0;                      // 46
  STDMETHOD(DisableWriterInstances_)() = 0;                   // 47
  STDMETHOD(ExposeSnapshot_)() = 0;                           // 48
  STDMETHOD(RevertToSnapshot_)() = 0;                         // 49
  STDMETHOD(QueryRevertStatus_)() = 0;                        // 50
};

static const GUID GUID_NULL_ = {0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}};
#define GUID_NULL GUID_NULL_
#define UNREFERENCED_PARAMETER(p) ((void)(p))
#define IN
#define _In_
