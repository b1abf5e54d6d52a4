import { describe, expect, it } from 'vitest';
import { hostedWriterServiceArgs, quoteWindowsArg, windowsCommandLine } from '../../src/platform/windows-service.js';

/** CommandLineToArgvW's rules, to check the quoting against. */
function parseWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let arg = '';
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === '\\') {
        let n = 0;
        while (line[i] === '\\') (n++, i++);
        if (line[i] === '"') {
          arg += '\\'.repeat(n >> 1);
          if (n % 2) arg += '"';
          else quoted = !quoted;
        } else {
          arg += '\\'.repeat(n);
          i--;
        }
      } else if (c === '"') quoted = !quoted;
      else if ((c === ' ' || c === '\t') && !quoted) break;
      else arg += c;
    }
    args.push(arg);
  }
  return args;
}

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
    expect(parseWindowsCommandLine(quoteWindowsArg(arg))).toEqual([arg]);
  });

  it('builds the serve --service command with every path quoted safely', () => {
    const argv = hostedWriterServiceArgs({ topologyFile: 'C:\\MBAM Config\\topology.json', server: 'MBAM-REC01', stateDir: 'C:\\ProgramData\\mbam-vss' });
    expect(argv.slice(2, 4)).toEqual(['serve', '--service']);
    expect(parseWindowsCommandLine(windowsCommandLine(argv))).toEqual(argv);
  });
});
