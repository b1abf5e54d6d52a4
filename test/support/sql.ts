import { parseTopology, type ServerTopology, type Topology } from '../../src/mbam/topology.js';
import type { ServerPermission, TdsServerHandle } from './tds-server.js';

export const SQL_PASSWORD = 'correct horse battery staple';
export const PASSWORD_ENV = 'MBAM_VSS_TEST_TDS_PASSWORD';
process.env[PASSWORD_ENV] = SQL_PASSWORD;

/** A topology whose one server is the TDS test server. */
export function topologyFor(tds: TdsServerHandle, over: { encrypt?: boolean; recovery?: string; compliance?: string; user?: string } = {}): Topology {
  return parseTopology(topologyJson(tds, over));
}

export function topologyJson(tds: TdsServerHandle, over: { encrypt?: boolean; recovery?: string; compliance?: string; user?: string } = {}) {
  const databases: Record<string, unknown> = { recovery: { name: over.recovery ?? 'MBAM Recovery and Hardware' } };
  if (over.compliance) databases['complianceAudit'] = { name: over.compliance };
  return {
    servers: [
      {
        name: 'MBAM-DB1',
        sql: { host: '127.0.0.1', port: tds.port, encrypt: over.encrypt ?? false, auth: { type: 'sql', user: over.user ?? 'mbam_vss', password: { env: PASSWORD_ENV } } },
        databases,
      },
    ],
  };
}

export function serverFor(tds: TdsServerHandle, over: Parameters<typeof topologyFor>[1] = {}): ServerTopology {
  return topologyFor(tds, over).servers[0]!;
}

/** SQL Server 2022 CU16: the build with the documented suspend fixes (KB5023106, KB5048510). */
export const SQL2022_CU16 = '16.0.4165.4';

export const mbamDatabases = () => [
  {
    name: 'MBAM Recovery and Hardware',
    files: [{ type: 'ROWS' as const, physicalName: '/var/opt/mssql/data/MBAMRecovery.mdf', sizePages: 1280 }, { type: 'LOG' as const, physicalName: '/var/opt/mssql/data/MBAMRecovery_log.ldf', sizePages: 128 }],
    tables: ['RecoveryAndHardwareCore.Keys'],
  },
  { name: 'MBAM Compliance Status', files: [{ type: 'ROWS' as const, physicalName: '/var/opt/mssql/data/MBAMCompliance.mdf', sizePages: 2560 }, { type: 'LOG' as const, physicalName: '/var/opt/mssql/data/MBAMCompliance_log.ldf', sizePages: 256 }] },
  { name: 'master' },
];

/**
 * The least-privileged login that can back up the MBAM databases: ALTER and BACKUP DATABASE on
 * each (db_backupoperator + ALTER), ALTER SETTINGS for the group suspend, VIEW ANY DEFINITION for
 * sys.master_files, CONTROL on the Recovery certificate in master. No sysadmin, no VIEW SERVER STATE.
 */
export function leastPrivilegeLogin(over: { serverPermissions?: ServerPermission[]; dbPermissions?: string[]; certificate?: string[] } = {}) {
  const db = { roles: ['db_backupoperator' as const], permissions: over.dbPermissions ?? ['ALTER'] };
  return {
    password: SQL_PASSWORD,
    serverPermissions: over.serverPermissions ?? (['ALTER SETTINGS', 'VIEW ANY DEFINITION'] as ServerPermission[]),
    databases: {
      'MBAM Recovery and Hardware': db,
      'MBAM Compliance Status': db,
      master: { certificates: { 'MBAM Recovery Encryption Certificate': over.certificate ?? ['CONTROL'] } },
    },
  };
}
