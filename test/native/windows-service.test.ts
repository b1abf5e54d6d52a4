import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serviceLoginProblems } from '../../src/cli/serve.js';
import { loadTopology } from '../../src/mbam/topology.js';
import { resolveServer } from '../../src/mbam/writer-definition.js';
import { runCliAsync } from '../support/cli.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { commandLineToArgv } from '../support/windows-cmdline.js';
import { hostedWriterServiceArgs, quoteWindowsArg, windowsCommandLine } from '../../src/platform/windows-service.js';

describe('Windows service command line', () => {
  it.each([
    'C:\\Program Files\\nodejs\\node.exe',
    'plain',
    '',
    'with "quotes" inside',
    'trailing backslash\\',
    'C:\\path with space\\',
    'a\\\\"b',
    'MBAM Recovery and Hardware',
  ])('quotes %j so that CommandLineToArgvW gives it back', (arg) => {
    expect(commandLineToArgv(quoteWindowsArg(arg))).toEqual([arg]);
  });

  it('builds the serve --service command with every path quoted safely', () => {
    const argv = hostedWriterServiceArgs({ topologyFile: 'C:\\MBAM Config\\topology.json', server: 'MBAM-REC01', stateDir: 'C:\\ProgramData\\mbam-vss' });
    expect(argv.slice(2, 4)).toEqual(['serve', '--service']);
    expect(commandLineToArgv(windowsCommandLine(argv))).toEqual(argv);
  });

  it('gives the service everything serve was given, with absolute paths (a service starts in System32)', () => {
    const argv = hostedWriterServiceArgs({ topologyFile: 'topology.json', server: 'MBAM-REC01', stateDir: 'state', freezeTimeoutMs: 30000, preRestoreCommand: 'iisreset /stop', postRestoreCommand: 'iisreset /start', commandTimeoutMs: 5000 });
    const opt = (name: string) => argv[argv.indexOf(name) + 1];
    expect(opt('--topology')).toBe(resolve('topology.json'));
    expect(opt('--state-dir')).toBe(resolve('state'));
    expect([opt('--freeze-timeout'), opt('--pre-restore-command'), opt('--post-restore-command'), opt('--command-timeout')]).toEqual(['30000', 'iisreset /stop', 'iisreset /start', '5000']);
    expect(commandLineToArgv(windowsCommandLine(argv))).toEqual(argv);
  });
});

describe('the hosted writer service can log in to SQL Server', () => {
  it('refuses --install-service for integrated auth or an {env} secret, before touching the SCM', async () => {
    const t = loadTopology(EXAMPLE_TOPOLOGY);
    expect(serviceLoginProblems(resolveServer(t, 'MBAM-REC01'))).toEqual([expect.stringMatching(/environment variable MBAM_REC01_SQL_PASSWORD/)]);
    expect(serviceLoginProblems(resolveServer(t, 'MBAM-CMP01'))).toEqual([]);
    const integrated = { ...resolveServer(t, 'MBAM-CMP01'), sql: { ...resolveServer(t, 'MBAM-CMP01').sql, auth: { type: 'integrated' as const } } };
    expect(serviceLoginProblems(integrated)).toEqual([expect.stringMatching(/integrated/)]);
    // A relative secret file or CA file would be looked up in the service's System32.
    const cmp = resolveServer(t, 'MBAM-CMP01');
    const relative = { ...cmp, sql: { ...cmp.sql, caFile: 'ca.pem', auth: { type: 'sql' as const, user: 'mbam_vss', password: { file: 'pw.txt' } } } };
    expect(serviceLoginProblems(relative)).toEqual([expect.stringMatching(/sql.auth.password.file is the relative path pw.txt/), expect.stringMatching(/sql.caFile is the relative path ca.pem/)]);
    const absolute = { ...cmp, sql: { ...cmp.sql, caFile: 'C:\\MBAM\\ca.pem', auth: { type: 'sql' as const, user: 'mbam_vss', password: { file: 'D:\\secrets\\pw.txt' } } } };
    expect(serviceLoginProblems(absolute)).toEqual([]);
    const r = await runCliAsync(['serve', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--install-service']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/could not log in to SQL Server MBAM-REC01[\s\S]*MBAM_REC01_SQL_PASSWORD/);
    // A file secret passes the check and reaches the (here absent) Service Control Manager.
    const ok = await runCliAsync(['serve', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-CMP01', '--install-service']);
    expect(ok.code).toBe(3);
    expect(ok.stderr).toMatch(/Service Control Manager\) exist on Windows only/);
  });
});
