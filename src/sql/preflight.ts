import type { ServerTopology } from '../mbam/topology.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

export interface SqlCheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

/**
 * The SQL Server checks install's preflight runs for a server: reachable, databases ONLINE, the
 * login's rights, the Recovery certificate. Each failed check is a precondition failure naming it.
 */
export async function sqlPreflight(server: ServerTopology): Promise<SqlCheckResult[]> {
  throw new VssError(HR.E_NOTIMPL, {
    message: `SQL Server checks for ${server.name} are not available in this build`,
    category: 'precondition',
    hint: 'Run install with --skip-sql-checks on a machine with no SQL Server configured.',
  });
}
