/**
 * SQL Server and driver errors as VssErrors: which server, which operation, what to check, and
 * the writer failure code (with its retry verdict) a VSS writer would report.
 *
 * SQL Server answers a failed statement with the cause first and a trailer after it (3081 then
 * 5069 "ALTER DATABASE statement failed.", 262 then 3013 "BACKUP DATABASE is terminating
 * abnormally.", 4060 then 18456). mssql keeps the last error (the trailer) and puts the earlier
 * ones in `precedingErrors`; bare tedious wraps them all in an AggregateError. The verdict comes
 * from the cause, never the trailer.
 */
import { VssError, type VssErrorCategory } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

interface DriverError {
  code?: string;
  number?: number;
  message?: string;
  originalError?: DriverError;
  precedingErrors?: DriverError[];
  errors?: DriverError[];
}

/** Known SQL Server error numbers. */
export const SQL_ERROR = {
  LOGIN_FAILED: 18456,
  CANNOT_OPEN_DATABASE_AT_LOGIN: 4060,
  ALREADY_SUSPENDED: 3081,
  TOO_MANY_DATABASES: 925,
  DATABASE_NOT_FOUND: 911,
  PERMISSION_DENIED: 262,
  OBJECT_PERMISSION_DENIED: 229,
  SERVER_PERMISSION_DENIED: 300,
  NO_PERMISSION: 297,
  ALTER_NO_PERMISSION: 5011,
  RESTORE_NO_PERMISSION: 3110,
  NO_PERMISSION_ACTION: 15247,
  SERVER_PRINCIPAL_CANNOT_ACCESS: 916,
  CANNOT_FIND_OBJECT: 15151,
  SYSTEM_DATABASE: 3089,
  INCORRECT_SYNTAX: 102,
  AVAILABILITY_GROUP_RESTORE: 3104,
  AVAILABILITY_GROUP_OFFLINE: 1468,
} as const;

/** Messages SQL Server sends after the cause of a failure: they say "it failed", not why. */
const TRAILERS = new Set([3013, 5069, 18456, 297, 3041]);

const PERMISSION_ERRORS = new Set<number>([
  SQL_ERROR.PERMISSION_DENIED,
  SQL_ERROR.OBJECT_PERMISSION_DENIED,
  SQL_ERROR.SERVER_PERMISSION_DENIED,
  SQL_ERROR.NO_PERMISSION,
  SQL_ERROR.ALTER_NO_PERMISSION,
  SQL_ERROR.RESTORE_NO_PERMISSION,
  SQL_ERROR.NO_PERMISSION_ACTION,
  SQL_ERROR.SERVER_PRINCIPAL_CANNOT_ACCESS,
  SQL_ERROR.CANNOT_FIND_OBJECT,
]);

/** Every server message of a failure, in the order the server sent them. */
export function serverErrors(e: unknown): { number?: number; message: string; code?: string }[] {
  const err = (e ?? {}) as DriverError;
  let list: DriverError[];
  if (Array.isArray(err.errors) && err.errors.length) list = err.errors;
  else if (Array.isArray(err.precedingErrors) && err.precedingErrors.length) list = [...err.precedingErrors, err];
  else list = [err];
  return list.map((x) => {
    const n = x.number ?? x.originalError?.number;
    const code = x.code ?? x.originalError?.code;
    return { ...(n !== undefined ? { number: n } : {}), ...(code !== undefined ? { code } : {}), message: (x.message ?? String(x)).replace(/\s+/g, ' ').trim() };
  });
}

/** The error that says why: the first server message that is not a trailer. */
export function causeOf(e: unknown): { number?: number; message: string; code?: string; trailer?: number } {
  const all = serverErrors(e);
  const cause = all.find((x) => x.number !== undefined && !TRAILERS.has(x.number)) ?? all[0]!;
  const trailer = all.find((x) => x !== cause && x.number !== undefined && TRAILERS.has(x.number))?.number;
  return { ...cause, ...(trailer !== undefined ? { trailer } : {}) };
}

export function sqlError(e: unknown, server: string, operation: string): VssError {
  if (e instanceof VssError) return e;
  const top = (e ?? {}) as DriverError;
  const cause = causeOf(e);
  const number = cause.number;
  const code = top.code ?? top.originalError?.code ?? cause.code;
  const where = `SQL Server ${server}, ${operation}`;
  let hr: number = HR.VSS_E_WRITERERROR_NONRETRYABLE;
  let category: VssErrorCategory = 'failed';
  let hint: string | undefined;
  if (number === SQL_ERROR.CANNOT_OPEN_DATABASE_AT_LOGIN) {
    category = 'precondition';
    hint = 'The login cannot open its default database: check the login\'s default database, or give it a user there.';
  } else if (code === 'ELOGIN' || number === SQL_ERROR.LOGIN_FAILED) {
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
    hint = 'Another snapshot backup holds the database; retry when it has finished. If nothing holds it, the server may have kept a stale suspension (KB5023106, KB5048510): update SQL Server 2022 to CU16 or later.';
  } else if (number === SQL_ERROR.TOO_MANY_DATABASES) {
    hint = 'At most 64 databases can be suspended in one group.';
  } else if (number === SQL_ERROR.DATABASE_NOT_FOUND) {
    category = 'precondition';
    hint = 'Check the database name in the topology.';
  } else if (number === SQL_ERROR.AVAILABILITY_GROUP_RESTORE || number === SQL_ERROR.AVAILABILITY_GROUP_OFFLINE) {
    category = 'precondition';
    hint = 'The database is in an availability group: remove it from the group (ALTER DATABASE … SET HADR OFF on each replica) before restoring it in place, then add it back.';
  } else if (number !== undefined && PERMISSION_ERRORS.has(number)) {
    category = 'precondition';
    hint =
      number === SQL_ERROR.ALTER_NO_PERMISSION
        ? 'The login lacks ALTER on the database, or the database does not exist or is not ONLINE: run mbam-vss install (its preflight names the missing right).'
        : 'Grant the login the rights this step needs (mbam-vss install names each: ALTER and BACKUP DATABASE on the MBAM databases, CONTROL on the certificate, CREATE ANY DATABASE or dbcreator for restore).';
  }
  const message = `${where}: ${cause.message}${number ? ` (SQL error ${number}${cause.trailer ? `, then ${cause.trailer}` : ''})` : ''}`;
  return new VssError(hr, { message, category, cause: e, ...(hint ? { hint } : {}) });
}

/**
 * Replaces every occurrence of a secret in an error's message and hint (a server may echo
 * statement text): as it is, as a T-SQL literal writes it (quotes doubled), and quoted.
 */
export function redactSecret(e: unknown, secret: string): unknown {
  if (!(e instanceof VssError) || !secret) return e;
  const forms = [...new Set([`N'${secret.replace(/'/g, "''")}'`, `'${secret.replace(/'/g, "''")}'`, secret.replace(/'/g, "''"), secret])].sort((a, b) => b.length - a.length);
  const scrub = (s: string) => forms.reduce((acc, f) => acc.split(f).join('***'), s);
  const message = scrub(e.message);
  const hint = e.hint ? scrub(e.hint) : undefined;
  if (message === e.message && hint === e.hint) return e;
  return new VssError(e.hresult, { message, category: e.category, ...(hint ? { hint } : {}) });
}
