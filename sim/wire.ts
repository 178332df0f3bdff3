/**
 * The lifecycle every wire adapter follows (testcontainers' started handle): `start…(lab, options)`
 * resolves once the socket listens, with its address and a `stop()` that closes it and every
 * connection. Nothing listens as a side effect of an import. Adapters bind to loopback by default.
 */
export interface ListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface Listening {
  /** "ldap", "dns", "https", "sip-tls" ... */
  protocol: string;
  host: string;
  port: number;
  /** For URL-shaped endpoints: "ldap://127.0.0.1:3890". */
  url?: string;
  stop(): Promise<void>;
}

/** Waits (real time, bounded) until `check` holds; the wire delivers in milliseconds. */
export async function eventually(check: () => boolean, limitMs = 5000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
