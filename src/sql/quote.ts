/**
 * The one place T-SQL text is built from values. Identifiers are bracket-quoted with `]` doubled;
 * string literals are N'…' with `'` doubled. Everything else goes as parameters. Statements that
 * cannot take parameters (ALTER DATABASE, BACKUP CERTIFICATE … FILE =) use these.
 */
import { invalidInput } from '../vss/errors.js';

/** SQL Server's sysname limit. */
const MAX_IDENTIFIER = 128;

export function quoteIdentifier(name: string, field = 'identifier'): string {
  if (typeof name !== 'string' || name.length === 0) throw invalidInput(field, 'a non-empty SQL Server identifier', name);
  if (name.length > MAX_IDENTIFIER) throw invalidInput(field, `an identifier of at most ${MAX_IDENTIFIER} characters`, name);
  if (name.includes('\0')) throw invalidInput(field, 'an identifier without NUL characters');
  return `[${name.replace(/\]/g, ']]')}]`;
}

export function quoteStringLiteral(value: string, field = 'string'): string {
  if (value.includes('\0')) throw invalidInput(field, 'a string without NUL characters');
  return `N'${value.replace(/'/g, "''")}'`;
}

/**
 * Tags a statement so logs, traces and the TDS test server can tell which of ours it is; the tag
 * is a comment, so the server ignores it.
 */
export function tagged(tag: string, statement: string): string {
  return `/*mbam-vss:${tag}*/ ${statement}`;
}
