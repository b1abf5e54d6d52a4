/**
 * SQL Server and driver errors as VssErrors: which server, which operation, what to check, and
 * the writer failure code (with its retry verdict) a VSS writer would report.
 */
import { VssError, type VssErrorCategory } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

interface DriverError {
  code?: string;
  number?: number;
  message?: string;
  originalError?: DriverError;
}

/** Known SQL Server error numbers. */
export const SQL_ERROR = {
  LOGIN_FAILED: 18456,
  ALREADY_SUSPENDED: 3081,
  TOO_MANY_DATABASES: 925,
  DATABASE_NOT_FOUND: 911,
  PERMISSION_DENIED: 262,
  SERVER_PRINCIPAL_CANNOT_ACCESS: 916,
  CANNOT_FIND_OBJECT: 15151,
  SYSTEM_DATABASE: 3089,
  INCORRECT_SYNTAX: 102,
} as const;

export function sqlError(e: unknown, server: string, operation: string): VssError {
  if (e instanceof VssError) return e;
  const err = (e ?? {}) as DriverError;
  const number = err.number ?? err.originalError?.number;
  const code = err.code ?? err.originalError?.code;
  const raw = (err.message ?? String(e)).replace(/\s+/g, ' ').trim();
  const where = `SQL Server ${server}, ${operation}`;
  let hr: number = HR.VSS_E_WRITERERROR_NONRETRYABLE;
  let category: VssErrorCategory = 'failed';
  let hint: string | undefined;
  if (code === 'ELOGIN' || number === SQL_ERROR.LOGIN_FAILED) {
    category = 'precondition';
    hint = 'Check the login and the secret the topology names (its environment variable or file), and that SQL authentication is enabled.';
  } else if (code === 'ESOCKET' || code === 'ECONNCLOSED' || code === 'ECONNRESET') {
    hr = HR.VSS_E_WRITERERROR_RETRYABLE;
    category = 'precondition';
    hint = 'Check the host, port or instance name, that SQL Server is running and that the firewall allows it.';
  } else if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') {
    hr = HR.VSS_E_WRITERERROR_TIMEOUT;
    category = 'precondition';
    hint = 'SQL Server did not answer in time: check that it is reachable and not overloaded.';
  } else if (number === SQL_ERROR.ALREADY_SUSPENDED) {
    hr = HR.VSS_E_WRITERERROR_RETRYABLE;
    hint = 'Another snapshot backup holds the database; retry when it has finished.';
  } else if (number === SQL_ERROR.TOO_MANY_DATABASES) {
    hint = 'At most 64 databases can be suspended in one group.';
  } else if (number === SQL_ERROR.PERMISSION_DENIED || number === SQL_ERROR.SERVER_PRINCIPAL_CANNOT_ACCESS) {
    category = 'precondition';
    hint = 'Grant the login the rights the backup needs (ALTER and BACKUP DATABASE on the MBAM databases, CONTROL on the certificate).';
  }
  return new VssError(hr, { message: `${where}: ${raw}${number ? ` (SQL error ${number})` : ''}`, category, cause: e, ...(hint ? { hint } : {}) });
}

/** Replaces every occurrence of a secret in an error's message (a server may echo statement text). */
export function redactSecret(e: unknown, secret: string): unknown {
  if (!(e instanceof VssError) || !secret || !e.message.includes(secret)) return e;
  return new VssError(e.hresult, { message: e.message.split(secret).join('***'), category: e.category, ...(e.hint ? { hint: e.hint } : {}) });
}
