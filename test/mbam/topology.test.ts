import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology, parseTopology, readSecret } from '../../src/mbam/topology.js';
import { VssError } from '../../src/vss/errors.js';
import { runCliAsync } from '../support/cli.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';

const server = (over: Record<string, unknown> = {}) => ({
  name: 'MBAM-DB1',
  sql: { host: 'db1.example', auth: { type: 'sql', user: 'u', password: { env: 'PW' } } },
  databases: { recovery: true },
  ...over,
});

function expectInvalid(value: unknown, message: RegExp) {
  try {
    parseTopology(value);
    expect.unreachable();
  } catch (e) {
    expect(e).toBeInstanceOf(VssError);
    expect((e as VssError).category).toBe('input');
    expect((e as VssError).message).toMatch(message);
  }
}

describe('topology', () => {
  it('reads the example with MBAM defaults', () => {
    const t = loadTopology(EXAMPLE_TOPOLOGY);
    expect(t.servers.map((s) => s.name)).toEqual(['MBAM-REC01', 'MBAM-CMP01']);
    expect(t.servers[0]!.databases).toEqual({ recovery: { name: 'MBAM Recovery and Hardware' } });
    expect(t.servers[1]!.databases).toEqual({ complianceAudit: { name: 'MBAM Compliance Status' } });
    expect(t.servers[1]!.sql).toMatchObject({ instance: 'MBAM', encrypt: true, trustServerCertificate: false });
    expect(t.webServiceUrls.length).toBe(2);
  });

  it.each([
    [{}, /^\$\.servers: expected a non-empty array of servers/],
    [{ servers: [server({ name: '' })] }, /^\$\.servers\[0\]\.name: expected a non-empty string/],
    [{ servers: [server({ databases: {} })] }, /^\$\.servers\[0\]\.databases: expected at least one of/],
    [{ servers: [server({ databases: { recovery: true, audit: true } })] }, /^\$\.servers\[0\]\.databases\.audit: expected no such field/],
    [{ servers: [server({ sql: { host: 'h', port: 70000 } })] }, /^\$\.servers\[0\]\.sql\.port: expected an integer from 1 to 65535 \(got 70000\)/],
    [{ servers: [server({ sql: { host: 'h', instance: 'bad name' } })] }, /^\$\.servers\[0\]\.sql\.instance: expected a SQL Server instance name/],
    [{ servers: [server({ sql: { host: 'h', auth: { type: 'sql', user: 'u', password: 'hunter2' } } })] }, /^\$\.servers\[0\]\.sql\.auth\.password: expected a reference .* secrets never live in the topology file/],
    [{ servers: [server({ sql: { host: 'h', auth: { type: 'sql', user: 'u', password: { env: '1X' } } } })] }, /password\.env: expected an environment variable name/],
    [{ servers: [server({ recoveryCertificatePassword: 'hunter2' })] }, /^\$\.servers\[0\]\.recoveryCertificatePassword: expected a reference .* secrets never live/],
    [{ servers: [server({ recoveryCertificatePassword: { env: 'A', file: '/x' } })] }, /^\$\.servers\[0\]\.recoveryCertificatePassword: expected either "env" or "file"/],
    [{ servers: [server(), server()] }, /^\$\.servers\[1\]\.name: expected a unique server name/],
    [{ servers: [server(), server({ name: 'MBAM-DB2' })] }, /^\$\.servers\[1\]\.databases\.recovery: expected the recovery database on one server only/],
    [{ servers: [server()], reportServerUrl: 'ftp://x' }, /^\$\.reportServerUrl: expected an http\(s\) URL/],
    [{ servers: [server()], webServiceUrls: ['https://user:pw@web/x'] }, /^\$\.webServiceUrls\[0\]: expected a URL without credentials/],
    [{ servers: [server()], backupMaxAgeHours: -1 }, /^\$\.backupMaxAgeHours: expected a positive number/],
    [{ servers: [server()], extra: 1 }, /^\$\.extra: expected no such field/],
  ])('rejects %j naming the field', (value, message) => expectInvalid(value, message));

  it('takes the Recovery certificate password by reference', () => {
    expect(parseTopology({ servers: [server({ recoveryCertificatePassword: { file: '/etc/mbam/cert-pw' } })] }).servers[0]!.recoveryCertificatePassword).toEqual({ file: '/etc/mbam/cert-pw' });
  });

  it('never echoes a secret in an error', () => {
    try {
      parseTopology({ servers: [server()], webServiceUrls: ['https://user:s3cr3t@web/x'] });
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('s3cr3t');
    }
  });

  it('names the file for unreadable or non-JSON topology', () => {
    const dir = mkdtempSync(join(tmpdir(), 'topo-'));
    writeFileSync(join(dir, 'bad.json'), '{ "servers": [');
    expect(() => loadTopology(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
    expect(() => loadTopology(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read it \(ENOENT\)/);
    writeFileSync(join(dir, 't.json'), JSON.stringify({ servers: [server({ sql: { host: 3 } })] }));
    expect(() => loadTopology(join(dir, 't.json'))).toThrow(/t\.json: \$\.servers\[0\]\.sql\.host/);
  });

  it('reads secrets by reference and says which reference is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sec-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    expect(readSecret({ file: join(dir, 'pw') }, 'x')).toBe('from-file');
    process.env['MBAM_TEST_PW'] = 'from-env';
    expect(readSecret({ env: 'MBAM_TEST_PW' }, 'x')).toBe('from-env');
    expect(() => readSecret({ env: 'MBAM_TEST_UNSET_PW' }, 'server A')).toThrow(/server A: environment variable MBAM_TEST_UNSET_PW is not set/);
  });
});

/** What a user meets: `install --topology FILE --dry-run` (reads and validates, changes nothing). */
describe('topology files as install reads them (hostile inputs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'topo-cli-'));
  const example = () => JSON.parse(readFileSync(EXAMPLE_TOPOLOGY, 'utf8'));
  const dryRun = (file: string) => runCliAsync(['install', '--topology', file, '--server', 'MBAM-REC01', '--dry-run', '--json']);
  let n = 0;
  const write = (text: string | Buffer) => {
    const f = join(dir, `t${n++}.json`);
    writeFileSync(f, text);
    return f;
  };

  it('accepts a UTF-8 byte-order mark (Notepad and PowerShell write one)', async () => {
    const r = await dryRun(write(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(EXAMPLE_TOPOLOGY)])));
    expect(r.envelope().error).toBeUndefined();
    expect(r.code).toBe(0);
    expect(r.result().server).toBe('MBAM-REC01');
  });

  const SECRET = '31415926535';
  const withPassword = (password: unknown) => {
    const t = example();
    t.servers[0].sql.auth.password = password;
    return JSON.stringify(t, null, 2);
  };
  const withUrl = (u: string) => JSON.stringify({ ...example(), reportServerUrl: u }, null, 2);
  it.each([
    ['a literal number as the password', withPassword(Number(SECRET)), /\$\.servers\[0\]\.sql\.auth\.password: expected a reference/],
    ['a literal string as the password', withPassword(SECRET), /\$\.servers\[0\]\.sql\.auth\.password: expected a reference/],
    ['a secret where the variable name goes', withPassword({ env: `pw ${SECRET}` }), /password\.env: expected an environment variable name/],
    ['a number where the variable name goes', withPassword({ env: Number(SECRET) }), /password\.env: expected/],
    ['a number where the file name goes', withPassword({ file: Number(SECRET) }), /password\.file: expected/],
    ['a password object with the value beside the reference', withPassword({ env: 'PW', value: SECRET }), /password\.value: expected no such field/],
    ['credentials in a URL', withUrl(`https://admin:${SECRET}@rpt.example/ReportServer`), /\$\.reportServerUrl: expected a URL without credentials/],
    ['credentials in a URL that does not parse', withUrl(`https://admin:${SECRET}@rpt.example:99999999/`), /\$\.reportServerUrl: expected an http\(s\) URL/],
    ['credentials in a URL of another scheme', withUrl(`ftp://admin:${SECRET}@rpt.example/`), /\$\.reportServerUrl: expected an http\(s\) URL/],
    ['an unquoted secret (not JSON)', withPassword('X').replace('"X"', SECRET + 'x'), /not valid JSON at line 10, column 34$/],
  ])('refuses %s with exit 2 and never echoes the secret', async (_what, text, message) => {
    const r = await dryRun(write(text));
    expect(r.code).toBe(2);
    const e = r.envelope().error;
    expect(e.category).toBe('input');
    expect(e.message).toMatch(message);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });
});
