import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, runCliAsync } from '../support/cli.js';
import { mbamDatabases, PASSWORD_ENV, SQL2022_CU16, SQL_PASSWORD, topologyJson } from '../support/sql.js';
import { tempDir } from '../support/state.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

let server: TdsServerHandle | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setup(opts: TdsServerOptions = {}) {
  server = await startTdsServer({ productVersion: SQL2022_CU16, databases: mbamDatabases(), certificates: ['MBAM Recovery Encryption Certificate'], ...opts });
  const dir = tempDir();
  const topology = join(dir, 'topology.json');
  writeFileSync(topology, JSON.stringify(topologyJson(server, { compliance: 'MBAM Compliance Status' })));
  return { dir, topology, stateDir: join(dir, 'state') };
}
const env = { [PASSWORD_ENV]: SQL_PASSWORD };

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? allFiles(join(dir, f)) : [join(dir, f)]));
}

describe('install with the SQL checks (TDS test server)', () => {
  it('passes every check and registers; no secret lands in output or state', async () => {
    const { topology, stateDir } = await setup();
    const r = await runCliAsync(['install', '--topology', topology, '--server', 'MBAM-DB1', '--state-dir', stateDir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const checks = r.json().preflight.map((p: { check: string }) => p.check);
    expect(checks).toEqual(expect.arrayContaining(['sql-reachable', 'database-online:recovery', 'sql-rights:recovery', 'certificate']));
    expect(r.stdout + r.stderr).not.toContain(SQL_PASSWORD);
    for (const f of allFiles(stateDir)) expect(readFileSync(f, 'utf8'), f).not.toContain(SQL_PASSWORD);
  });

  it.each([
    ['the Recovery database is offline', { databases: [{ name: 'MBAM Recovery and Hardware', state: 'OFFLINE' }, { name: 'MBAM Compliance Status' }] }, 'database-online:recovery'],
    ['the certificate is missing', { certificates: [] }, 'certificate'],
    ['the login fails', { faults: { loginFails: true } }, 'sql-reachable'],
  ] as const)('exits 3 naming the check when %s, and registers nothing', async (_n, opts, check) => {
    const { topology, stateDir } = await setup(opts as TdsServerOptions);
    const r = await runCliAsync(['install', '--topology', topology, '--server', 'MBAM-DB1', '--state-dir', stateDir], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`preflight check '${check}' failed`);
    expect(r.stderr).not.toContain(SQL_PASSWORD);
    expect(runCli(['writers', '--state-dir', stateDir, '--json']).json().writers).toEqual([]);
  });

  it('a missing password variable is a precondition naming the variable, not the value', async () => {
    const { topology, stateDir } = await setup();
    const r = await runCliAsync(['install', '--topology', topology, '--server', 'MBAM-DB1', '--state-dir', stateDir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`environment variable ${PASSWORD_ENV} is not set`));
  });
});
