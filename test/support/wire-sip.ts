/**
 * Test support for the front end's SIP adapter: the lab at the end of the seed rehearsal (seed-part3),
 * built on a simulated clock that starts at the wall clock so the lab's certificates are valid for real
 * TLS clients, and small raw SIP helpers (a Content-Length framed stream client and Digest).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SimClock } from '../../sim/clock.js';
import { Lab } from '../../sim/lab.js';
import { DEFAULT_SEED, runScenario } from '../../sim/runner.js';
import { registry } from '../../emulators/index.js';
import { caInfo } from '../../emulators/ca/ca.client.js';
import { labNetwork } from '../../emulators/network/lab.network.js';
import { compile } from './shipped.js';

export interface SeedLab {
  lab: Lab;
  caPem: string;
  users: Array<{ sam: string; password: string; aor: string }>;
}

/**
 * Runs seed-part3 (and its `from` chain) through the runner on a lab the caller keeps. The simulated
 * clock starts a day before the wall clock: the rehearsal's simulated minutes (replication waits,
 * service starts) would otherwise put the certificates' notBefore in the future for a real TLS client.
 * The seed ends with ocsuser1 and ocsuser2 signed in through the lab's Communicator fleet on
 * `labNetwork(lab)`: the lab owns those sockets and listeners, so the caller ends with `await lab.close()`.
 */
export async function buildSeedLab(id = 'seed-part3', options: { sipDigest?: boolean } = {}): Promise<SeedLab> {
  const scenario = compile(id);
  const seed = scenario.seed ?? DEFAULT_SEED;
  const lab = new Lab(scenario.topology, registry.emulators, { seed, clock: new SimClock(Date.now() - 24 * 3600_000) });
  // The lab's network, made before the rehearsal's clients use it: with Digest for a generic client's test.
  if (options.sipDigest) labNetwork(lab, { sipDigest: true });
  const report = await runScenario({ scenario, registry, seed, lab });
  if (report.status !== 'passed') {
    await lab.close();
    throw new Error(`${id} did not pass on the SIP test lab: ${report.status} ${JSON.stringify(report.error ?? '')}`);
  }
  const sipDomain = scenario.topology.sipDomains[0] ?? 'example.com';
  return {
    lab,
    caPem: caInfo(lab.get('ca')).certPem,
    users: scenario.topology.users.map((u) => ({ sam: u.sam, password: u.password, aor: `sip:${u.sam}@${sipDomain}` })),
  };
}

export const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
export const token = (n = 6): string => randomBytes(n).toString('hex');

/** A parsed SIP message as a raw test client sees it. */
export interface RawSip {
  startLine: string;
  status?: number;
  method?: string;
  headers: Array<[string, string]>;
  body: string;
  raw: string;
  header(name: string): string | undefined;
  all(name: string): string[];
}

export function parseRaw(raw: string): RawSip {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = lines.map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  const m = /^SIP\/2\.0 (\d{3})/.exec(startLine);
  const all = (name: string) => headers.filter(([k]) => k === name.toLowerCase()).map(([, v]) => v);
  return {
    startLine,
    ...(m ? { status: Number(m[1]) } : { method: startLine.split(' ')[0] ?? '' }),
    headers,
    body,
    raw,
    header: (name) => all(name)[0],
    all,
  };
}

/** A SIP client over TLS or TCP that frames by Content-Length and queues what it receives. */
export class RawSipClient {
  readonly received: RawSip[] = [];
  private buffer = '';
  private waiters: Array<{ match: (m: RawSip) => boolean; resolve: (m: RawSip) => void }> = [];
  closed = false;
  readonly callId = token(8);
  readonly fromTag = token(4);
  readonly contactUser = token(4);
  cseq = 1;

  private constructor(readonly socket: Socket, readonly transport: 'TLS' | 'TCP') {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {
      this.closed = true;
    });
  }

  static tls(port: number, caPem: string, servername = 'sip.example.com'): Promise<RawSipClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, servername }, () => resolve(new RawSipClient(s, 'TLS')));
      s.once('error', reject);
    });
  }

  static tcp(port: number): Promise<RawSipClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new RawSipClient(s, 'TCP')));
      s.once('error', reject);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      this.buffer = this.buffer.replace(/^(\r\n)+/, '');
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/^(?:content-length|l)\s*:\s*(\d+)/im.exec(this.buffer.slice(0, end))?.[1] ?? '0');
      if (this.buffer.length < end + 4 + length) return;
      const msg = parseRaw(this.buffer.slice(0, end + 4 + length));
      this.buffer = this.buffer.slice(end + 4 + length);
      const w = this.waiters.findIndex((x) => x.match(msg));
      if (w >= 0) this.waiters.splice(w, 1)[0]?.resolve(msg);
      else this.received.push(msg);
    }
  }

  next(match: (m: RawSip) => boolean = () => true, timeoutMs = 3000): Promise<RawSip> {
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as RawSip);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (m: RawSip) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no SIP message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  send(raw: string): void {
    this.socket.write(raw);
  }

  /** Sends a request built from parts; returns the branch. */
  request(method: string, ruri: string, opts: { from: string; to: string; headers?: string[]; body?: string; callId?: string; contentType?: string }): string {
    const branch = `z9hG4bK${token(6)}`;
    const body = opts.body ?? '';
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/${this.transport} ${this.contactUser}.invalid;branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${opts.from}>;tag=${this.fromTag}`,
      `To: <${opts.to}>`,
      `Call-ID: ${opts.callId ?? (method === 'REGISTER' ? this.callId : token(8))}`,
      `CSeq: ${this.cseq++} ${method}`,
      `Contact: <sip:${this.contactUser}@${this.contactUser}.invalid;transport=${this.transport.toLowerCase()}>`,
      ...(opts.headers ?? []),
      ...(body ? [`Content-Type: ${opts.contentType ?? 'text/plain'}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    this.send(lines.join('\r\n'));
    return branch;
  }

  /** REGISTER, answer the Digest challenge (RFC 2617, qop=auth) with `password`; resolves with the final response. */
  async register(aor: string, username: string, password: string, expires = 300): Promise<RawSip> {
    const ruri = `sip:${aor.replace(/^sip:/, '').split('@')[1] ?? ''}`;
    const b1 = this.request('REGISTER', ruri, { from: aor, to: aor, headers: [`Expires: ${expires}`] });
    const first = await this.next((m) => (m.header('via') ?? '').includes(b1));
    if (first.status !== 401) return first;
    const authorization = digestAuthorization(digestChallenge(first), { username, password, method: 'REGISTER', uri: ruri });
    const b2 = this.request('REGISTER', ruri, { from: aor, to: aor, headers: [`Expires: ${expires}`, `Authorization: ${authorization}`] });
    return this.next((m) => (m.header('via') ?? '').includes(b2));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The Digest challenge among a 401's `WWW-Authenticate` headers (NTLM and Kerberos come first, as OCS offers them). */
export function digestChallenge(m: RawSip): string {
  return m.all('www-authenticate').find((v) => /^\s*Digest\s/i.test(v)) ?? '';
}

/** The Authorization header value answering a Digest challenge (qop=auth when offered). */
export function digestAuthorization(challenge: string, a: { username: string; password: string; method: string; uri: string }): string {
  const param = (n: string) => new RegExp(`${n}="?([^",]+)"?`, 'i').exec(challenge)?.[1] ?? '';
  const realm = param('realm');
  const nonce = param('nonce');
  const opaque = param('opaque');
  const qop = /qop="?[^"]*auth/i.test(challenge) ? 'auth' : '';
  const ha1 = md5(`${a.username}:${realm}:${a.password}`);
  const ha2 = md5(`${a.method}:${a.uri}`);
  const cnonce = token(4);
  const nc = '00000001';
  const response = qop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return [
    `Digest username="${a.username}"`,
    `realm="${realm}"`,
    `nonce="${nonce}"`,
    `uri="${a.uri}"`,
    `response="${response}"`,
    'algorithm=MD5',
    ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`] : []),
    ...(opaque ? [`opaque="${opaque}"`] : []),
  ].join(', ');
}
