/**
 * `vssadmin list writers` text: formatting a writer list exactly as vssadmin prints it, and
 * reading such text back. The reader keys on structure (the quoted name, the `{guid}` lines, the
 * `[n]` state number), not on the English labels, so localised output parses too.
 */
import { WriterState, type WriterStateName } from './enums.js';
import { invalidInput } from './errors.js';
import { formatGuid, parseGuid, type Guid } from './guid.js';
import { lastErrorText, HR } from './hresult.js';

/** One writer as a requester sees it after GatherWriterStatus. */
export interface WriterStatus {
  name: string;
  writerId: Guid;
  instanceId: Guid;
  instanceName?: string;
  state: WriterStateName;
  /** The writer's failure HRESULT; 0 when it reported none. */
  lastError: number;
}

export const VSSADMIN_BANNER =
  'vssadmin 1.1 - Volume Shadow Copy Service administrative command-line tool\n(C) Copyright 2001-2013 Microsoft Corp.\n';

export function formatVssadminWriters(writers: readonly WriterStatus[], opts: { banner?: boolean } = {}): string {
  const blocks = writers.map(
    (w) =>
      `Writer name: '${w.name}'\n` +
      `   Writer Id: ${formatGuid(w.writerId, { braces: true })}\n` +
      `   Writer Instance Id: ${formatGuid(w.instanceId, { braces: true })}\n` +
      `   State: [${WriterState.value(w.state)}] ${WriterState.display(w.state)}\n` +
      `   Last error: ${lastErrorText(w.lastError)}\n`,
  );
  return (opts.banner ? VSSADMIN_BANNER + '\n' : '') + blocks.map((b) => b + '\n').join('');
}

const LAST_ERROR_CODES = new Map<string, number>(
  [0, HR.VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, HR.VSS_E_WRITERERROR_OUTOFRESOURCES, HR.VSS_E_WRITERERROR_TIMEOUT,
    HR.VSS_E_WRITERERROR_RETRYABLE, HR.VSS_E_WRITERERROR_NONRETRYABLE, HR.VSS_E_WRITER_NOT_RESPONDING]
    .map((c) => [lastErrorText(c).toLowerCase(), c] as [string, number]),
);

export interface ParsedVssadminWriter extends Omit<WriterStatus, 'lastError'> {
  /** The HRESULT when the text is one of vssadmin's English phrases, else undefined. */
  lastError: number | undefined;
  /** The last-error text as printed (possibly localised). */
  lastErrorText: string;
}

export function parseVssadminWriters(text: string): ParsedVssadminWriter[] {
  const out: ParsedVssadminWriter[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let cur: Partial<ParsedVssadminWriter> & { guids: Guid[]; sawState: boolean; line: number } | undefined;
  const finish = () => {
    if (!cur) return;
    if (cur.guids.length < 2 || cur.state === undefined) {
      throw invalidInput(`vssadmin output line ${cur.line}`, `a writer block with a writer id, an instance id and a [n] state`, cur.name);
    }
    out.push({
      name: cur.name!,
      writerId: cur.guids[0]!,
      instanceId: cur.guids[1]!,
      state: cur.state,
      lastError: cur.lastError,
      lastErrorText: cur.lastErrorText ?? '',
    });
    cur = undefined;
  };
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const indented = /^\s/.test(line);
    const nameMatch = /^[^\s'][^']*'(.*)'\s*$/.exec(line);
    if (!indented && nameMatch) {
      finish();
      cur = { name: nameMatch[1]!, guids: [], sawState: false, line: i + 1 };
      return;
    }
    if (!cur || !indented) return;
    const guid = /\{[0-9a-fA-F-]{36}\}/.exec(line);
    const state = /\[(\d+)\]/.exec(line);
    if (state && !cur.sawState) {
      const name = WriterState.fromValue(Number(state[1]));
      if (!name) throw invalidInput(`vssadmin output line ${i + 1}`, 'a writer state number from 0 to 15', state[1]);
      cur.state = name;
      cur.sawState = true;
    } else if (guid && !cur.sawState) {
      cur.guids.push(parseGuid(guid[0], `vssadmin output line ${i + 1}`));
    } else if (cur.sawState && cur.lastErrorText === undefined) {
      const t = line.slice(line.indexOf(':') + 1).trim();
      cur.lastErrorText = t;
      cur.lastError = LAST_ERROR_CODES.get(t.toLowerCase());
    }
  });
  finish();
  return out;
}
