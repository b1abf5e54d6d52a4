import { parseTopology, type ServerTopology, type Topology } from '../../src/mbam/topology.js';
import type { TdsServerHandle } from './tds-server.js';

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

export const mbamDatabases = () => [
  { name: 'MBAM Recovery and Hardware', files: [{ type: 'ROWS' as const, physicalName: '/var/opt/mssql/data/MBAMRecovery.mdf', sizePages: 1280 }, { type: 'LOG' as const, physicalName: '/var/opt/mssql/data/MBAMRecovery_log.ldf', sizePages: 128 }] },
  { name: 'MBAM Compliance Status', files: [{ type: 'ROWS' as const, physicalName: '/var/opt/mssql/data/MBAMCompliance.mdf', sizePages: 2560 }] },
  { name: 'master' },
];
