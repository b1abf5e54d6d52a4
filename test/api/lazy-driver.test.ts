/**
 * Importing the package, and commands that never talk to SQL Server, must not load mssql and
 * tedious (some 400 modules): the driver is loaded on the first SQL connection. Checked in a child
 * process, whose module cache starts empty.
 */
import { describe, expect, it } from 'vitest';
import { execAsync } from '../support/exec.js';
import { REPO } from '../support/paths.js';

const probe = (body: string) =>
  `const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/mssql/'));\n${body}`;

describe('the SQL driver loads lazily', () => {
  it('import of the package does not load mssql; the first connection attempt does', async () => {
    const out = await execAsync(
      'node',
      [
        '-e',
        probe(`import('./dist/index.js').then(async () => {
          const before = loaded();
          const m = await import('./dist/sql/connection.js');
          const server = { name: 'x', sql: { host: '127.0.0.1', port: 1, auth: { type: 'sql', user: 'u', password: { env: 'MBAM_LAZY_PW' } }, encrypt: false, trustServerCertificate: false } };
          await m.SqlServerConnection.open(server, { connectTimeoutMs: 500 }).catch(() => {});
          process.stdout.write(JSON.stringify({ before, after: loaded() }));
        });`),
      ],
      { cwd: REPO, env: { ...process.env, MBAM_LAZY_PW: 'x' } },
    );
    // The control (after) proves the probe can see mssql when it is loaded.
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  });
});
