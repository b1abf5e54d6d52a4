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
});

describe('the hosted writer service can log in to SQL Server', () => {
  it('refuses --install-service for integrated auth or an {env} secret, before touching the SCM', async () => {
    const t = loadTopology(EXAMPLE_TOPOLOGY);
    expect(serviceLoginProblems(resolveServer(t, 'MBAM-REC01'))).toEqual([expect.stringMatching(/environment variable MBAM_REC01_SQL_PASSWORD/)]);
    expect(serviceLoginProblems(resolveServer(t, 'MBAM-CMP01'))).toEqual([]);
    const integrated = { ...resolveServer(t, 'MBAM-CMP01'), sql: { ...resolveServer(t, 'MBAM-CMP01').sql, auth: { type: 'integrated' as const } } };
    expect(serviceLoginProblems(integrated)).toEqual([expect.stringMatching(/integrated/)]);
    const r = await runCliAsync(['serve', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--install-service']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/could not log in to SQL Server MBAM-REC01[\s\S]*MBAM_REC01_SQL_PASSWORD/);
    // A file secret passes the check and reaches the (here absent) Service Control Manager.
    const ok = await runCliAsync(['serve', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-CMP01', '--install-service']);
    expect(ok.code).toBe(3);
    expect(ok.stderr).toMatch(/Service Control Manager\) exist on Windows only/);
  });
});
