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

/** Compared without case, spaces or punctuation: a localised text survives re-wrapping. */
const errorKey = (t: string): string => t.normalize('NFC').toLowerCase().replace(/[\s\p{P}]+/gu, '');

/**
 * vssadmin's last-error texts. English from vssadmin itself (lastErrorText). Localised texts only
 * where a real vssadmin resource or output was found; others stay `lastError: undefined` with the
 * text kept, rather than a guessed translation that could turn a failure into "no error".
 *
 * fr-FR: the string table of C:\Windows\SysWOW64\fr-FR\vssadmin.exe.mui, as published at
 *   http://185.111.55.55:8080/docs/funcspecs/2.jsp?editfile=C%3A%5CWindows%5CSysWOW64%5Cfr-FR%5Cvssadmin.exe.mui
 *   (UTF-16 dump; word boundaries are not visible there, hence errorKey ignores spaces). The
 *   table lists the texts in vssadmin's English order: "Cliché instantané incohérent",
 *   "Ressources insuffisantes", "Délai dépassé", "Erreur récupérable", "Erreur non récupérable",
 *   "Erreur inattendue", "Aucune erreur".
 */
const LOCALISED_LAST_ERRORS: [string, number][] = [
  ['Aucune erreur', 0],
  ['Cliché instantané incohérent', HR.VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT],
  ['Ressources insuffisantes', HR.VSS_E_WRITERERROR_OUTOFRESOURCES],
  ['Délai dépassé', HR.VSS_E_WRITERERROR_TIMEOUT],
  ['Erreur récupérable', HR.VSS_E_WRITERERROR_RETRYABLE],
  ['Erreur non récupérable', HR.VSS_E_WRITERERROR_NONRETRYABLE],
];

const LAST_ERROR_CODES = new Map<string, number>([
  ...[0, HR.VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, HR.VSS_E_WRITERERROR_OUTOFRESOURCES, HR.VSS_E_WRITERERROR_TIMEOUT,
    HR.VSS_E_WRITERERROR_RETRYABLE, HR.VSS_E_WRITERERROR_NONRETRYABLE, HR.VSS_E_WRITER_NOT_RESPONDING]
    .map((c) => [errorKey(lastErrorText(c)), c] as [string, number]),
  ...LOCALISED_LAST_ERRORS.map(([t, c]) => [errorKey(t), c] as [string, number]),
]);

export interface ParsedVssadminWriter extends Omit<WriterStatus, 'lastError'> {
  /** The HRESULT when the text is a known (English or cited localised) phrase, else undefined. */
  lastError: number | undefined;
  /** The last-error text as printed (possibly localised). */
  lastErrorText: string;
}

/**
 * The quotes around a writer's name: vssadmin prints 'name' in English; localised Windows prints
 * typographic quotes (‘name’, “name”, „name“) or guillemets (« name »), some with spaces inside.
 */
const OPEN_QUOTES = `'"‘’“”„«‹`;
const CLOSE_QUOTES = `'"‘’“”»›`;
// The label may itself hold an apostrophe (fr "Nom de l’enregistreur"): the name starts after the colon.
const NAME_LINE = new RegExp(`^(\\S.*?)\\s*[:：]\\s*[${OPEN_QUOTES}]\\s*(.*?)\\s*[${CLOSE_QUOTES}]\\s*$`);
const GUID = /\{[0-9a-fA-F-]{36}\}/;
const STATE = /\[(\d+)\]/;
/** vssadmin's own error line ("Error: …", fr "Erreur : …"): a failed run, never an empty list. */
const ERROR_LINE = /^\s*(error|erreur)\s*:/i;
/** Lines that look like part of a writer list; one the reader did not consume is refused. */
const writerLooking = (line: string): boolean => GUID.test(line) || STATE.test(line) || ERROR_LINE.test(line);

/**
 * Reads `vssadmin list writers` output. Refuses (with the line number) any writer-looking line it
 * cannot place: text that does not parse must never come back as "no writers", which a health
 * check reads as "nothing failed".
 */
export function parseVssadminWriters(text: string): ParsedVssadminWriter[] {
  const out: ParsedVssadminWriter[] = [];
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
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
  const refuse = (i: number, line: string): never => {
    throw invalidInput(`vssadmin output line ${i + 1}`, ERROR_LINE.test(line) ? 'a writer list, not an error from vssadmin' : 'a line of a writer block (name, writer id, instance id, [n] state, last error)', line.trim());
  };
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const indented = /^\s/.test(line);
    const nameMatch = indented ? null : NAME_LINE.exec(line);
    if (nameMatch && !ERROR_LINE.test(line)) {
      finish();
      cur = { name: nameMatch[2]!, guids: [], sawState: false, line: i + 1 };
      return;
    }
    if (!cur || !indented) {
      // The banner and other prose are skipped; anything writer-shaped outside a block is not.
      if (writerLooking(line)) refuse(i, line);
      return;
    }
    const guid = GUID.exec(line);
    const state = STATE.exec(line);
    if (state && !cur.sawState) {
      const name = WriterState.fromValue(Number(state[1]));
      if (!name) throw invalidInput(`vssadmin output line ${i + 1}`, 'a writer state number from 0 to 15', state[1]);
      cur.state = name;
      cur.sawState = true;
    } else if (guid && !cur.sawState && cur.guids.length < 2) {
      cur.guids.push(parseGuid(guid[0], `vssadmin output line ${i + 1}`));
    } else if (cur.sawState && cur.lastErrorText === undefined && !guid && !state && /[:：]/.test(line)) {
      const t = line.slice(line.search(/[:：]/) + 1).trim();
      cur.lastErrorText = t;
      cur.lastError = LAST_ERROR_CODES.get(errorKey(t));
    } else {
      refuse(i, line);
    }
  });
  finish();
  return out;
}
