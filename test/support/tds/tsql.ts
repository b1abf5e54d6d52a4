/**
 * Statement recognition for the TDS test server: a tokenizer and a small recursive-descent parser
 * for the documented T-SQL subset the server models. Lexical rules follow "Database identifiers"
 * (https://learn.microsoft.com/sql/relational-databases/databases/database-identifiers: delimited
 * identifiers in [ ] with ]] for a literal ], keywords case-insensitive), "Constants"
 * (https://learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql: N'...' with '' for a
 * quote) and "Comment" (-- and nestable block comments). Statements need no terminator; `;` is optional.
 * A batch is parsed whole before anything runs, as SQL Server compiles a batch before executing
 * it, so a syntax error (102/156, severity 15) means nothing in the batch ran.
 */

export type Tok =
  | { t: 'word'; v: string; u: string; pos: number; line: number } // bare identifier or keyword
  | { t: 'qident'; v: string; u: string; pos: number; line: number } // [delimited]
  | { t: 'str'; v: string; u: string; pos: number; line: number } // 'x' or N'x'
  | { t: 'num'; v: string; u: string; pos: number; line: number }
  | { t: 'var'; v: string; u: string; pos: number; line: number } // @x or @@X
  | { t: 'sym'; v: string; u: string; pos: number; line: number };

export class SyntaxError102 extends Error {
  constructor(
    readonly number: number,
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

// Reserved keywords that produce "Incorrect syntax near the keyword" (156) rather than 102.
// https://learn.microsoft.com/sql/t-sql/language-elements/reserved-keywords-transact-sql
const RESERVED = new Set(
  'ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK BROWSE BULK BY CASCADE CASE CHECK CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE CONSTRAINT CONTAINS CONTINUE CONVERT CREATE CROSS CURRENT CURSOR DATABASE DBCC DEALLOCATE DECLARE DEFAULT DELETE DENY DESC DISK DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE END ERRLVL ESCAPE EXCEPT EXEC EXECUTE EXISTS EXIT EXTERNAL FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT FROM FULL FUNCTION GOTO GRANT GROUP HAVING HOLDLOCK IDENTITY IF IN INDEX INNER INSERT INTERSECT INTO IS JOIN KEY KILL LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK NONCLUSTERED NOT NULL NULLIF OF OFF OFFSETS ON OPEN OPTION OR ORDER OUTER OVER PERCENT PIVOT PLAN PRIMARY PRINT PROC PROCEDURE PUBLIC RAISERROR READ RECONFIGURE REFERENCES REPLICATION RESTORE RESTRICT RETURN REVERT REVOKE RIGHT ROLLBACK ROWCOUNT RULE SAVE SCHEMA SELECT SET SETUSER SHUTDOWN SOME STATISTICS TABLE TABLESAMPLE TEXTSIZE THEN TO TOP TRAN TRANSACTION TRIGGER TRUNCATE UNION UNIQUE UNPIVOT UPDATE USE USER VALUES VARYING VIEW WAITFOR WHEN WHERE WHILE WITH'.split(' '),
);

export function tokenize(text: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const push = (t: Tok['t'], v: string, pos: number, l: number) => toks.push({ t, v, u: v.toUpperCase(), pos, line: l } as Tok);
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && text[i + 1] === '-') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      let depth = 0;
      const startLine = line;
      do {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          if (text[i] === '\n') line++;
          i++;
        }
      } while (depth > 0 && i < text.length);
      if (depth > 0) throw new SyntaxError102(113, "Missing end comment mark '*/'.", startLine);
      continue;
    }
    const start = i;
    const startLine = line;
    if (c === '[') {
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new SyntaxError102(105, `Unclosed quotation mark after the character string '${v}'.`, startLine);
        if (text[i] === ']') {
          if (text[i + 1] === ']') {
            v += ']';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (text[i] === '\n') line++;
        v += text[i++];
      }
      push('qident', v, start, startLine);
      continue;
    }
    if (c === "'" || ((c === 'N' || c === 'n') && text[i + 1] === "'")) {
      i += c === "'" ? 1 : 2;
      let v = '';
      for (;;) {
        if (i >= text.length) throw new SyntaxError102(105, `Unclosed quotation mark after the character string '${v}'.`, startLine);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (text[i] === '\n') line++;
        v += text[i++];
      }
      push('str', v, start, startLine);
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < text.length && /[0-9.]/.test(text[i]!)) i++;
      push('num', text.slice(start, i), start, startLine);
      continue;
    }
    if (c === '@') {
      i++;
      if (text[i] === '@') i++;
      while (i < text.length && /[\w$#@]/.test(text[i]!)) i++;
      push('var', text.slice(start, i), start, startLine);
      continue;
    }
    if (/[A-Za-z_#]/.test(c)) {
      while (i < text.length && /[\w$#@]/.test(text[i]!)) i++;
      push('word', text.slice(start, i), start, startLine);
      continue;
    }
    const two = text.slice(i, i + 2);
    if (['<>', '!=', '>=', '<='].includes(two)) {
      push('sym', two, start, startLine);
      i += 2;
      continue;
    }
    if ('(),=;.*<>+-'.includes(c)) {
      push('sym', c, start, startLine);
      i++;
      continue;
    }
    throw new SyntaxError102(102, `Incorrect syntax near '${c}'.`, startLine);
  }
  return toks;
}

// ---- AST ----------------------------------------------------------------------------------------

export type Expr =
  | { e: 'lit'; v: string | number | null }
  | { e: 'param'; name: string }
  | { e: 'global'; name: string } // @@SERVERNAME
  | { e: 'col'; parts: string[] }
  | { e: 'call'; fn: string; args: Expr[] }
  | { e: 'cast'; expr: Expr; type: string };

export type Cond = { c: 'cmp'; op: string; l: Expr; r: Expr } | { c: 'in'; l: Expr; list: Expr[]; not: boolean } | { c: 'null'; l: Expr; not: boolean } | { c: 'and'; l: Cond; r: Cond } | { c: 'or'; l: Cond; r: Cond };

export interface SelectItem {
  star?: boolean;
  expr?: Expr;
  alias?: string;
}
export interface FromSource {
  parts: string[]; // e.g. ['sys','databases'] or ['master','sys','certificates']
  args?: Expr[]; // table-valued function arguments
  alias?: string;
}

export type WithOption = { name: string; value?: string | number; move?: { from: string; to: string } };

export type Statement = { kind: StatementKind; line: number; text: string } & (
  | { kind: 'select'; top?: number; items: SelectItem[]; from?: FromSource; where?: Cond; orderBy?: { expr: Expr; desc: boolean }[] }
  | { kind: 'use'; database: string }
  | { kind: 'set-option'; option: string; value: string }
  | { kind: 'begin-tran' | 'commit-tran' | 'rollback-tran' }
  | { kind: 'suspend-database' | 'resume-database'; database: string; copyOnly: boolean }
  | { kind: 'set-offline' | 'set-online'; database: string; termination: 'ROLLBACK IMMEDIATE' | 'NO_WAIT' | 'ROLLBACK AFTER' | null }
  | { kind: 'alter-database-other'; database: string; option: string }
  | { kind: 'suspend-group' | 'suspend-server' | 'resume-server'; databases: string[]; copyOnly: boolean }
  | { kind: 'backup-database' | 'backup-group' | 'backup-server'; databases: string[]; disks: string[]; options: WithOption[] }
  | { kind: 'backup-certificate'; certificate: string; file: string; keyFile?: string; encryptionPassword?: string; decryptionPassword?: string }
  | { kind: 'restore-headeronly' | 'restore-filelistonly'; disks: string[]; options: WithOption[] }
  | { kind: 'restore-database'; database: string; disks: string[]; options: WithOption[] }
  | { kind: 'create-certificate'; certificate: string; file: string; keyFile?: string; decryptionPassword?: string; encryptionPassword?: string }
  | { kind: 'create-master-key'; password: string }
  | { kind: 'open-master-key'; password: string }
  | { kind: 'close-master-key' }
  | { kind: 'not-modelled' }
);

/** A statement before its position is known. */
type Bare = Statement extends unknown ? (Statement extends infer S ? (S extends Statement ? Omit<S, 'line' | 'text'> : never) : never) : never;

/** Stable names of the statement kinds the server recognises; fault selectors use them. */
export type StatementKind =
  | 'select'
  | 'use'
  | 'set-option'
  | 'begin-tran'
  | 'commit-tran'
  | 'rollback-tran'
  | 'suspend-database'
  | 'resume-database'
  | 'set-offline'
  | 'set-online'
  | 'alter-database-other'
  | 'suspend-group'
  | 'suspend-server'
  | 'resume-server'
  | 'backup-database'
  | 'backup-group'
  | 'backup-server'
  | 'backup-certificate'
  | 'restore-headeronly'
  | 'restore-filelistonly'
  | 'restore-database'
  | 'create-certificate'
  | 'create-master-key'
  | 'open-master-key'
  | 'close-master-key'
  | 'not-modelled';

// Words that begin a statement: a statement without `;` ends where the next one begins.
const STATEMENT_STARTS = new Set(['SELECT', 'USE', 'SET', 'BEGIN', 'COMMIT', 'ROLLBACK', 'ALTER', 'BACKUP', 'RESTORE', 'CREATE', 'OPEN', 'CLOSE', 'DECLARE', 'IF', 'EXEC', 'EXECUTE', 'INSERT', 'UPDATE', 'DELETE', 'DROP', 'GRANT', 'DENY', 'REVOKE', 'PRINT', 'WAITFOR', 'KILL', 'DBCC', 'WHILE', 'RAISERROR', 'THROW', 'WITH', 'MERGE', 'TRUNCATE', 'SAVE', 'GO']);
const NOT_MODELLED_STARTS = new Set(['DECLARE', 'IF', 'EXEC', 'EXECUTE', 'INSERT', 'UPDATE', 'DELETE', 'DROP', 'GRANT', 'DENY', 'REVOKE', 'PRINT', 'WAITFOR', 'KILL', 'DBCC', 'WHILE', 'RAISERROR', 'THROW', 'WITH', 'MERGE', 'TRUNCATE', 'SAVE']);

class Parser {
  i = 0;
  constructor(
    readonly toks: Tok[],
    readonly text: string,
  ) {}

  peek(o = 0): Tok | undefined {
    return this.toks[this.i + o];
  }
  atEnd(): boolean {
    return this.i >= this.toks.length;
  }
  fail(tok = this.peek()): never {
    if (!tok) {
      const last = this.toks[this.toks.length - 1];
      throw new SyntaxError102(102, `Incorrect syntax near '${last ? last.v : ''}'.`, last?.line ?? 1);
    }
    if (tok.t === 'word' && RESERVED.has(tok.u)) throw new SyntaxError102(156, `Incorrect syntax near the keyword '${tok.v}'.`, tok.line);
    throw new SyntaxError102(102, `Incorrect syntax near '${tok.v}'.`, tok.line);
  }
  isWord(w: string, o = 0): boolean {
    const t = this.peek(o);
    return !!t && t.t === 'word' && t.u === w;
  }
  isSym(s: string, o = 0): boolean {
    const t = this.peek(o);
    return !!t && t.t === 'sym' && t.v === s;
  }
  word(...ws: string[]): string {
    const t = this.peek();
    if (!t || t.t !== 'word' || (ws.length && !ws.includes(t.u))) this.fail(t);
    this.i++;
    return t.u;
  }
  optWord(w: string): boolean {
    if (this.isWord(w)) {
      this.i++;
      return true;
    }
    return false;
  }
  sym(s: string): void {
    if (!this.isSym(s)) this.fail();
    this.i++;
  }
  optSym(s: string): boolean {
    if (this.isSym(s)) {
      this.i++;
      return true;
    }
    return false;
  }
  ident(): string {
    const t = this.peek();
    if (!t || (t.t !== 'word' && t.t !== 'qident')) this.fail(t);
    if (t.t === 'word' && RESERVED.has(t.u)) this.fail(t);
    this.i++;
    return t.v;
  }
  /** BACKUP/RESTORE accept { database_name | @database_name_var } (BACKUP and RESTORE pages). */
  identOrParam(params: Record<string, unknown>): string {
    const t = this.peek();
    if (t?.t === 'var' && !t.v.startsWith('@@')) return this.strOrParam(params);
    return this.ident();
  }
  str(): string {
    const t = this.peek();
    if (!t || t.t !== 'str') this.fail(t);
    this.i++;
    return t.v;
  }
  strOrParam(params: Record<string, unknown>): string {
    const t = this.peek();
    if (t?.t === 'var' && !t.v.startsWith('@@')) {
      this.i++;
      const v = params[t.v.slice(1).toLowerCase()];
      if (v === undefined) throw new SyntaxError102(137, `Must declare the scalar variable "${t.v}".`, t.line);
      return String(v);
    }
    return this.str();
  }
  /** The statement is over: end of batch, `;`, or the start of another statement. */
  atStatementEnd(): boolean {
    const t = this.peek();
    return !t || (t.t === 'sym' && t.v === ';') || (t.t === 'word' && STATEMENT_STARTS.has(t.u));
  }

  // ---- expressions ----
  expr(): Expr {
    const t = this.peek();
    if (!t) this.fail();
    if (t.t === 'str') {
      this.i++;
      return { e: 'lit', v: t.v };
    }
    if (t.t === 'num') {
      this.i++;
      return { e: 'lit', v: Number(t.v) };
    }
    if (t.t === 'sym' && t.v === '-' && this.peek(1)?.t === 'num') {
      this.i += 2;
      return { e: 'lit', v: -Number(this.toks[this.i - 1]!.v) };
    }
    if (t.t === 'var') {
      this.i++;
      return t.v.startsWith('@@') ? { e: 'global', name: t.u } : { e: 'param', name: t.v.slice(1).toLowerCase() };
    }
    if (t.t === 'sym' && t.v === '(') {
      this.i++;
      const e = this.expr();
      this.sym(')');
      return e;
    }
    if (t.t === 'word' && t.u === 'NULL') {
      this.i++;
      return { e: 'lit', v: null };
    }
    if (t.t === 'word' || t.t === 'qident') {
      if (t.t === 'word' && this.isSym('(', 1)) {
        this.i += 2;
        const args: Expr[] = [];
        // CAST(expr AS type) and CONVERT(type, expr [, style]) (Learn: CAST and CONVERT).
        if (t.u === 'CAST') {
          const expr = this.expr();
          this.word('AS');
          const type = this.typeName();
          this.sym(')');
          return { e: 'cast', expr, type };
        }
        if (t.u === 'CONVERT') {
          const type = this.typeName();
          this.sym(',');
          const expr = this.expr();
          if (this.optSym(',')) this.expr();
          this.sym(')');
          return { e: 'cast', expr, type };
        }
        if (t.u === 'COUNT' && this.optSym('*')) {
          this.sym(')');
          return { e: 'call', fn: 'COUNT', args: [{ e: 'lit', v: '*' }] };
        }
        if (!this.isSym(')')) {
          do args.push(this.expr());
          while (this.optSym(','));
        }
        this.sym(')');
        return { e: 'call', fn: t.u, args };
      }
      if (t.t === 'word' && RESERVED.has(t.u)) this.fail(t);
      const parts = [this.ident()];
      while (this.isSym('.') && !this.isSym('*', 1)) {
        this.i++;
        parts.push(this.ident());
      }
      return { e: 'col', parts };
    }
    this.fail(t);
  }

  /**
   * `PRIVATE KEY ( FILE = '…' [, ENCRYPTION | DECRYPTION BY PASSWORD = '…' ] … )`, after WITH: the
   * same clause in BACKUP CERTIFICATE and CREATE CERTIFICATE (Learn pages of both statements).
   */
  privateKeyOptions(out: { keyFile?: string; encryptionPassword?: string; decryptionPassword?: string }): void {
    this.word('PRIVATE');
    this.word('KEY');
    this.sym('(');
    do {
      if (this.optWord('FILE')) {
        this.sym('=');
        out.keyFile = this.str();
      } else {
        const which = this.word('ENCRYPTION', 'DECRYPTION');
        this.word('BY');
        this.word('PASSWORD');
        this.sym('=');
        const p = this.str();
        if (which === 'ENCRYPTION') out.encryptionPassword = p;
        else out.decryptionPassword = p;
      }
    } while (this.optSym(','));
    this.sym(')');
  }

  typeName(): string {
    const t = this.word();
    if (this.optSym('(')) {
      if (!this.optWord('MAX')) {
        const n = this.peek();
        if (n?.t !== 'num') this.fail(n);
        this.i++;
        if (this.optSym(',')) this.i++;
      }
      this.sym(')');
    }
    return t;
  }

  cond(): Cond {
    let l = this.condAtom();
    for (;;) {
      if (this.optWord('AND')) l = { c: 'and', l, r: this.condAtom() };
      else if (this.optWord('OR')) l = { c: 'or', l, r: this.condAtom() };
      else return l;
    }
  }
  condAtom(): Cond {
    if (this.isSym('(') && this.looksLikeParenCond()) {
      this.i++;
      const c = this.cond();
      this.sym(')');
      return c;
    }
    const l = this.expr();
    if (this.optWord('IS')) {
      const not = this.optWord('NOT');
      this.word('NULL');
      return { c: 'null', l, not };
    }
    const not = this.optWord('NOT');
    if (this.optWord('IN')) {
      this.sym('(');
      const list: Expr[] = [];
      do list.push(this.expr());
      while (this.optSym(','));
      this.sym(')');
      return { c: 'in', l, list, not };
    }
    if (not) this.fail();
    const t = this.peek();
    if (!t || t.t !== 'sym' || !['=', '<>', '!=', '<', '>', '<=', '>='].includes(t.v)) this.fail(t);
    this.i++;
    return { c: 'cmp', op: t.v === '!=' ? '<>' : t.v, l, r: this.expr() };
  }
  looksLikeParenCond(): boolean {
    // "(a = b)" vs "(expr) = x": look for a comparison before the matching ')'.
    let depth = 0;
    for (let k = this.i; k < this.toks.length; k++) {
      const t = this.toks[k]!;
      if (t.t === 'sym' && t.v === '(') depth++;
      else if (t.t === 'sym' && t.v === ')') {
        depth--;
        if (depth === 0) return false;
      } else if (depth === 1 && ((t.t === 'sym' && ['=', '<>', '!=', '<', '>'].includes(t.v)) || (t.t === 'word' && ['IS', 'IN', 'AND', 'OR'].includes(t.u)))) return true;
    }
    return false;
  }

  // ---- statements ----
  select(): Omit<Extract<Statement, { kind: 'select' }>, 'line' | 'text'> {
    this.word('SELECT');
    let top: number | undefined;
    if (this.optWord('TOP')) {
      const paren = this.optSym('(');
      const t = this.peek();
      if (!t || t.t !== 'num') this.fail(t);
      this.i++;
      top = Number(t.v);
      if (paren) this.sym(')');
    }
    const items: SelectItem[] = [];
    do {
      if (this.optSym('*')) {
        items.push({ star: true });
        continue;
      }
      const expr = this.expr();
      let alias: string | undefined;
      if (this.optWord('AS')) {
        const t = this.peek();
        if (t?.t === 'str') alias = this.str();
        else alias = this.ident();
      } else {
        const t = this.peek();
        if (t && (t.t === 'qident' || (t.t === 'word' && !RESERVED.has(t.u)))) alias = this.ident();
      }
      items.push({ expr, ...(alias !== undefined ? { alias } : {}) });
    } while (this.optSym(','));
    let from: FromSource | undefined;
    let where: Cond | undefined;
    let orderBy: { expr: Expr; desc: boolean }[] | undefined;
    if (this.optWord('FROM')) {
      const parts = [this.ident()];
      while (this.optSym('.')) parts.push(this.isSym('.') ? '' : this.ident());
      from = { parts: parts.filter((p) => p !== '') };
      if (this.isSym('(')) {
        this.i++;
        const args: Expr[] = [];
        if (!this.isSym(')')) {
          do args.push(this.expr());
          while (this.optSym(','));
        }
        this.sym(')');
        from.args = args;
      }
      if (this.optWord('AS')) from.alias = this.ident();
      else {
        const t = this.peek();
        if (t && (t.t === 'qident' || (t.t === 'word' && !RESERVED.has(t.u)))) from.alias = this.ident();
      }
      if (this.optWord('WHERE')) where = this.cond();
    }
    if (this.optWord('ORDER')) {
      this.word('BY');
      orderBy = [];
      do {
        const expr = this.expr();
        const desc = this.optWord('DESC');
        if (!desc) this.optWord('ASC');
        orderBy.push({ expr, desc });
      } while (this.optSym(','));
    }
    return { kind: 'select', items, ...(top !== undefined ? { top } : {}), ...(from ? { from } : {}), ...(where ? { where } : {}), ...(orderBy ? { orderBy } : {}) };
  }

  withOptions(params: Record<string, unknown>): WithOption[] {
    const opts: WithOption[] = [];
    if (!this.optWord('WITH')) return opts;
    do {
      const name = this.word();
      if (name === 'MOVE') {
        const from = this.strOrParam(params);
        this.word('TO');
        opts.push({ name, move: { from, to: this.strOrParam(params) } });
        continue;
      }
      if (this.optSym('=')) {
        const t = this.peek();
        if (t?.t === 'num') {
          this.i++;
          opts.push({ name, value: Number(t.v) });
        } else if (t?.t === 'word') {
          this.i++;
          opts.push({ name, value: t.u });
        } else opts.push({ name, value: this.strOrParam(params) });
      } else opts.push({ name });
    } while (this.optSym(','));
    return opts;
  }

  disks(params: Record<string, unknown>, into: 'TO' | 'FROM'): string[] {
    this.word(into);
    const out: string[] = [];
    do {
      this.word('DISK');
      this.sym('=');
      out.push(this.strOrParam(params));
    } while (this.optSym(','));
    return out;
  }

  identList(): string[] {
    const out = [this.ident()];
    while (this.optSym(',')) out.push(this.ident());
    return out;
  }

  statement(params: Record<string, unknown>): Bare {
    const t = this.peek()!;
    if (t.t !== 'word') this.fail(t);
    switch (t.u) {
      case 'SELECT':
        return this.select();
      case 'USE': {
        this.i++;
        return { kind: 'use', database: this.ident() };
      }
      case 'SET': {
        this.i++;
        const opt = this.peek();
        if (opt?.t === 'var') return this.notModelled();
        let option = this.word();
        if (option === 'TRANSACTION') {
          this.word('ISOLATION');
          this.word('LEVEL');
          const words: string[] = [];
          while (this.peek()?.t === 'word' && !this.atStatementEnd()) words.push(this.word());
          return { kind: 'set-option', option: 'TRANSACTION ISOLATION LEVEL', value: words.join(' ') };
        }
        while (this.optSym(',')) option += ',' + this.word();
        const neg = this.optSym('-');
        const v = this.peek();
        if (!v || (v.t !== 'word' && v.t !== 'num' && v.t !== 'str') || (neg && v.t !== 'num')) this.fail(v);
        this.i++;
        return { kind: 'set-option', option, value: (neg ? '-' : '') + v.u };
      }
      case 'BEGIN': {
        this.i++;
        if (!this.optWord('TRAN') && !this.optWord('TRANSACTION')) return this.notModelled();
        this.optTranName();
        return { kind: 'begin-tran' };
      }
      case 'COMMIT':
      case 'ROLLBACK': {
        this.i++;
        if (this.optWord('TRAN') || this.optWord('TRANSACTION') || this.optWord('WORK')) this.optTranName();
        return { kind: t.u === 'COMMIT' ? 'commit-tran' : 'rollback-tran' };
      }
      case 'ALTER':
        return this.alter(params);
      case 'BACKUP':
        return this.backup(params);
      case 'RESTORE':
        return this.restore(params);
      case 'CREATE':
        return this.create(params);
      case 'OPEN': {
        this.i++;
        this.word('MASTER');
        this.word('KEY');
        this.word('DECRYPTION');
        this.word('BY');
        this.word('PASSWORD');
        this.sym('=');
        return { kind: 'open-master-key', password: this.str() };
      }
      case 'CLOSE': {
        this.i++;
        this.word('MASTER');
        this.word('KEY');
        return { kind: 'close-master-key' };
      }
      default:
        if (NOT_MODELLED_STARTS.has(t.u)) return this.notModelled();
        this.fail(t);
    }
  }

  optTranName(): void {
    const t = this.peek();
    if (t && (t.t === 'qident' || t.t === 'var' || (t.t === 'word' && !STATEMENT_STARTS.has(t.u) && !RESERVED.has(t.u)))) this.i++;
  }

  /** Skips to the end of a statement the server recognises but does not model. */
  notModelled(): { kind: 'not-modelled' } {
    this.i++;
    let depth = 0;
    while (!this.atEnd()) {
      if (this.isSym('(')) depth++;
      if (this.isSym(')')) depth--;
      if (depth === 0 && this.isSym(';')) break;
      // Only the statement keywords that cannot appear inside these statements end them.
      if (depth === 0 && this.peek()!.t === 'word' && ['SELECT', 'USE', 'ALTER', 'BACKUP', 'RESTORE', 'BEGIN', 'COMMIT', 'ROLLBACK'].includes(this.peek()!.u) && !this.isWord('SELECT')) break;
      this.i++;
    }
    return { kind: 'not-modelled' };
  }

  alter(params: Record<string, unknown>): Bare {
    this.word('ALTER');
    if (this.optWord('DATABASE')) {
      const database = this.ident();
      this.word('SET');
      const opt = this.word();
      if (opt === 'SUSPEND_FOR_SNAPSHOT_BACKUP') {
        // https://learn.microsoft.com/sql/t-sql/statements/alter-database-transact-sql-set-options
        // <suspend_for_snapshot_backup> ::= SET SUSPEND_FOR_SNAPSHOT_BACKUP = { ON | OFF } [ ( MODE = COPY_ONLY ) ]
        this.sym('=');
        const on = this.word('ON', 'OFF') === 'ON';
        let copyOnly = false;
        if (this.optSym('(')) {
          this.word('MODE');
          this.sym('=');
          this.word('COPY_ONLY');
          copyOnly = true;
          this.sym(')');
        }
        return { kind: on ? 'suspend-database' : 'resume-database', database, copyOnly };
      }
      if (opt === 'OFFLINE' || opt === 'ONLINE') {
        // <db_state_option> ::= { ONLINE | OFFLINE | EMERGENCY } [ WITH <termination> ]
        let termination: 'ROLLBACK IMMEDIATE' | 'NO_WAIT' | 'ROLLBACK AFTER' | null = null;
        if (this.optWord('WITH')) {
          if (this.optWord('NO_WAIT')) termination = 'NO_WAIT';
          else {
            this.word('ROLLBACK');
            if (this.optWord('IMMEDIATE')) termination = 'ROLLBACK IMMEDIATE';
            else {
              this.word('AFTER');
              const n = this.peek();
              if (n?.t !== 'num') this.fail(n);
              this.i++;
              this.optWord('SECONDS');
              termination = 'ROLLBACK AFTER';
            }
          }
        }
        return { kind: opt === 'OFFLINE' ? 'set-offline' : 'set-online', database, termination };
      }
      // Other SET options: recognised as ALTER DATABASE, not modelled.
      while (!this.atStatementEnd()) this.i++;
      return { kind: 'alter-database-other', database, option: opt };
    }
    if (this.optWord('SERVER')) {
      this.word('CONFIGURATION');
      this.word('SET');
      const opt = this.peek();
      if (!this.isWord('SUSPEND_FOR_SNAPSHOT_BACKUP')) {
        while (!this.atStatementEnd()) this.i++;
        return { kind: 'not-modelled' };
      }
      void opt;
      this.i++;
      // https://learn.microsoft.com/sql/t-sql/statements/alter-server-configuration-transact-sql
      // SUSPEND_FOR_SNAPSHOT_BACKUP = { ON | OFF } [ ( GROUP = ( <database>,...n ) [ , MODE = COPY_ONLY ] ) ]
      this.sym('=');
      const on = this.word('ON', 'OFF') === 'ON';
      const databases: string[] = [];
      let copyOnly = false;
      if (this.optSym('(')) {
        do {
          if (this.optWord('GROUP')) {
            this.sym('=');
            this.sym('(');
            databases.push(...this.identList());
            this.sym(')');
          } else {
            this.word('MODE');
            this.sym('=');
            this.word('COPY_ONLY');
            copyOnly = true;
          }
        } while (this.optSym(','));
        this.sym(')');
      }
      return { kind: on ? (databases.length ? 'suspend-group' : 'suspend-server') : 'resume-server', databases, copyOnly };
    }
    return this.notModelled();
  }

  backup(params: Record<string, unknown>): Bare {
    this.word('BACKUP');
    if (this.optWord('CERTIFICATE')) {
      // https://learn.microsoft.com/sql/t-sql/statements/backup-certificate-transact-sql
      // File names and passwords are string constants in the syntax; a variable is a syntax error.
      const certificate = this.ident();
      this.word('TO');
      this.word('FILE');
      this.sym('=');
      const file = this.str();
      const out: Extract<Statement, { kind: 'backup-certificate' }> = { kind: 'backup-certificate', certificate, file, line: 0, text: '' };
      if (this.optWord('WITH')) this.privateKeyOptions(out);
      return out;
    }
    // https://learn.microsoft.com/sql/relational-databases/backup-restore/create-a-transact-sql-snapshot-backup
    // BACKUP DATABASE db | BACKUP GROUP db1, db2 | BACKUP SERVER  TO DISK = ... WITH METADATA_ONLY
    if (this.optWord('DATABASE')) {
      const databases = [this.identOrParam(params)];
      return { kind: 'backup-database', databases, disks: this.disks(params, 'TO'), options: this.withOptions(params) };
    }
    if (this.optWord('GROUP')) {
      const databases = this.identList();
      return { kind: 'backup-group', databases, disks: this.disks(params, 'TO'), options: this.withOptions(params) };
    }
    if (this.optWord('SERVER')) return { kind: 'backup-server', databases: [], disks: this.disks(params, 'TO'), options: this.withOptions(params) };
    return this.notModelled();
  }

  restore(params: Record<string, unknown>): Bare {
    this.word('RESTORE');
    if (this.optWord('HEADERONLY')) return { kind: 'restore-headeronly', disks: this.disks(params, 'FROM'), options: this.withOptions(params) };
    if (this.optWord('FILELISTONLY')) return { kind: 'restore-filelistonly', disks: this.disks(params, 'FROM'), options: this.withOptions(params) };
    if (this.optWord('DATABASE')) {
      const database = this.identOrParam(params);
      return { kind: 'restore-database', database, disks: this.disks(params, 'FROM'), options: this.withOptions(params) };
    }
    return this.notModelled();
  }

  create(params: Record<string, unknown>): Bare {
    this.word('CREATE');
    if (this.optWord('MASTER')) {
      // https://learn.microsoft.com/sql/t-sql/statements/create-master-key-transact-sql
      this.word('KEY');
      this.word('ENCRYPTION');
      this.word('BY');
      this.word('PASSWORD');
      this.sym('=');
      return { kind: 'create-master-key', password: this.str() };
    }
    if (this.optWord('CERTIFICATE')) {
      // https://learn.microsoft.com/sql/t-sql/statements/create-certificate-transact-sql
      const certificate = this.ident();
      if (this.optWord('AUTHORIZATION')) this.ident();
      this.word('FROM');
      this.word('FILE');
      this.sym('=');
      const out: Extract<Statement, { kind: 'create-certificate' }> = { kind: 'create-certificate', certificate, file: this.str(), line: 0, text: '' };
      if (this.optWord('WITH')) this.privateKeyOptions(out);
      return out;
    }
    return this.notModelled();
  }
}

/** Parses a batch into statements; throws SyntaxError102 (nothing in the batch runs then). */
export function parseBatch(text: string, params: Record<string, unknown> = {}): Statement[] {
  const toks = tokenize(text);
  const p = new Parser(toks, text);
  const out: Statement[] = [];
  while (!p.atEnd()) {
    if (p.optSym(';')) continue;
    const start = p.peek()!;
    const st = p.statement(params);
    if (!p.atStatementEnd()) p.fail();
    const next = p.peek();
    out.push({ ...st, line: start.line, text: text.slice(start.pos, next ? next.pos : text.length).trim() } as Statement);
  }
  return out;
}
