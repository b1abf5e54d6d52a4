/**
 * CommandLineToArgvW's rules (and the C runtime's), written from its documentation, to read a
 * Windows command line back independently of the quoting in src/platform/windows-service.ts.
 */
export function commandLineToArgv(line: string): string[] {
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
