/**
 * Secrets by reference: an environment variable or a file that holds the value. Secrets never live
 * in a topology file, never on a command line (argv is world-readable in /proc), and never in a
 * log or an error message: errors name only the reference.
 */
import { readFileSync } from 'node:fs';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

/** A secret by reference: the name of an environment variable, or a file holding it. */
export type SecretRef = { env: string } | { file: string };

/** Reads a referenced secret. The value is never logged; errors name only the reference. */
export function readSecret(ref: SecretRef, what: string): string {
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined || v === '') {
      throw new VssError(HR.E_INVALIDARG, { message: `${what}: environment variable ${ref.env} is not set`, category: 'precondition', hint: `Set ${ref.env} in the environment of the process (not on its command line).` });
    }
    return v;
  }
  try {
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new VssError(HR.E_INVALIDARG, { message: `${what}: cannot read secret file ${ref.file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, category: 'precondition', cause: e });
  }
}
