/**
 * Domain failures are values, never exceptions: `{ kind: 'component.reason', ...details }`.
 * Adapters map kinds to wire codes; reports show `message`. Throwing is for bugs.
 */
export interface Failure {
  /** Dot-namespaced, e.g. 'ad.noSuchObject', 'ocs.prerequisiteMissing'. */
  kind: `${string}.${string}`;
  /** What an operator would read: the wizard error, the LCSCmd log line, the LDAP diagnostic. */
  message: string;
  [detail: string]: unknown;
}

export type Result<T, F extends Failure = Failure> = { ok: true; value: T } | { ok: false; failure: F };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = <F extends Failure>(failure: F): { ok: false; failure: F } => ({ ok: false, failure });
