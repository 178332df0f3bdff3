/**
 * The LDAP policy limits a domain controller keeps (issue 13), each hit on purpose: a huge filter does not
 * hold the others up, MaxQueryDuration ends a search with timeLimitExceeded (3), InitRecvTimeout closes a
 * connection that never sends a whole request, MaxConnections drops the connection that has sent
 * nothing, unfinished messages cannot pile up, and a connection that queues too much is told busy (51).
 * Raw sockets, so what goes on the wire is exactly what a hostile client sends.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import filterPkg from '@ldapjs/filter';
import { BASE, prepareDirectory, startLdapLab, type LdapLab } from '../support/wire-ldap.js';
import { frameLength, type LdapLimits } from '../../emulators/ad/ad.ldap.adapter.js';
import { BerReader, intBytes, message, octets, tlv } from '../../emulators/ad/ldap.ber.js';
import { waitingWork } from '../../sim/wire.js';

interface Answer {
  id: number;
  op: number;
  code?: number;
  diagnostic?: string;
}

/** A raw LDAP connection: what it is sent, and every message it gets back, decoded enough to judge. */
class Raw {
  readonly answers: Answer[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const f = frameLength(this.buf, 64 * 1024 * 1024);
        if (f.kind !== 'message') break;
        const r = new BerReader(this.buf.subarray(0, f.size));
        this.buf = this.buf.subarray(f.size);
        const m = r.sub(r.tlv());
        const id = m.integer();
        const opTlv = m.tlv();
        const a: Answer = { id, op: opTlv.tag };
        if (opTlv.tag !== 0x64) {
          const body = m.sub(opTlv);
          a.code = body.integer(0x0a);
          body.string();
          a.diagnostic = body.string();
        }
        this.answers.push(a);
      }
      this.wake();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  connected(): Promise<void> {
    return new Promise((resolve) => (this.socket.readyState === 'open' ? resolve() : this.socket.once('connect', () => resolve())));
  }

  send(b: Buffer) {
    this.socket.write(b);
  }

  async until(test: () => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test()) {
      if (Date.now() > end) throw new Error(`timed out; answers ${JSON.stringify(this.answers)}, closed ${this.closed}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  done(id: number): Answer | undefined {
    return this.answers.find((a) => a.id === id && a.op === 0x65);
  }

  destroy() {
    this.socket.destroy();
  }
}

const bind = (id: number, password: string) => message(id, tlv(0x60, tlv(0x02, intBytes(3)), octets('CORP\\Administrator'), octets(password, 0x80)));
const search = (id: number, filter: string, timeLimit = 0) => {
  const f = Buffer.from((filterPkg.parseString(filter) as unknown as { toBer(): { buffer: Buffer } }).toBer().buffer);
  return message(id, tlv(0x63, octets(BASE), tlv(0x0a, intBytes(2)), tlv(0x0a, intBytes(0)), tlv(0x02, intBytes(0)), tlv(0x02, intBytes(timeLimit)), tlv(0x01, Buffer.from([0])), f, tlv(0x30, octets('cn'))));
};
const rootDse = (id: number) => message(id, tlv(0x63, octets(''), tlv(0x0a, intBytes(0)), tlv(0x0a, intBytes(0)), tlv(0x02, intBytes(0)), tlv(0x02, intBytes(0)), tlv(0x01, Buffer.from([0])), octets('objectClass', 0x87), tlv(0x30)));
const wideOr = (n: number) => `(|${Array.from({ length: n }, (_, i) => `(cn=nobody${i})`).join('')})`;

describe('LDAP under hostile clients: the limits a DC keeps', () => {
  let l: LdapLab | undefined;
  const open: Raw[] = [];
  const start = async (limits?: Partial<LdapLimits>) => {
    l = await startLdapLab('1', prepareDirectory, limits);
    return l;
  };
  const raw = async () => {
    const r = new Raw((l as LdapLab).server.port);
    open.push(r);
    await r.connected();
    return r;
  };
  afterEach(async () => {
    for (const r of open.splice(0)) r.destroy();
    await l?.stop();
    l = undefined;
  });

  it('a 40,000-term OR filter runs in slices: searches on other connections are answered before it ends', async () => {
    const lab = await start();
    const big = await raw();
    const small = await raw();
    big.send(Buffer.concat([bind(1, lab.adminPassword), search(2, wideOr(40_000))]));
    small.send(Buffer.concat([bind(1, lab.adminPassword), search(2, '(sAMAccountName=ocsuser1)')]));
    await small.until(() => small.done(2) !== undefined);
    expect(small.done(2)?.code).toBe(0);
    // The small search was answered while the big one was still running.
    expect(big.done(2)).toBeUndefined();
    await big.until(() => big.done(2) !== undefined);
    expect(big.done(2)?.code).toBe(0);
  });

  it("MaxQueryDuration (or the client's timeLimit) ends a search with timeLimitExceeded (3) and AD's diagnostic", async () => {
    const lab = await start({ maxQueryDurationMs: 1 });
    const c = await raw();
    c.send(Buffer.concat([bind(1, lab.adminPassword), search(2, wideOr(40_000)), search(3, '(sAMAccountName=ocsuser1)')]));
    await c.until(() => c.done(3) !== undefined);
    expect(c.done(2)).toMatchObject({ code: 3, diagnostic: expect.stringMatching(/^00002022: .*time limit/i) });
    // The connection goes on: the next request is answered in order.
    expect(c.done(3)?.code).toBe(0);
  });

  it('InitRecvTimeout: a connection that never sends a whole request is closed with a Notice of Disconnection', async () => {
    await start({ initRecvTimeoutMs: 200 });
    const silent = await raw();
    const dribble = await raw();
    dribble.send(Buffer.from([0x30, 0x84, 0x00, 0x00, 0x01]));
    await silent.until(() => silent.closed, 5000);
    await dribble.until(() => dribble.closed, 5000);
    expect(dribble.answers.at(-1)).toMatchObject({ id: 0, op: 0x78, diagnostic: expect.stringContaining('InitRecvTimeout') });
  });

  it('MaxConnections: past the limit the newcomer is served and a connection that has sent nothing is dropped', async () => {
    const lab = await start({ maxConnections: 3 });
    const idle = await raw();
    const a = await raw();
    a.send(bind(1, lab.adminPassword));
    await a.until(() => a.answers.length > 0);
    await raw();
    const newcomer = await raw();
    await idle.until(() => idle.closed);
    expect(idle.answers.at(-1)).toMatchObject({ op: 0x78, code: 51 });
    newcomer.send(Buffer.concat([bind(1, lab.adminPassword), search(2, '(sAMAccountName=ocsuser1)')]));
    await newcomer.until(() => newcomer.done(2) !== undefined);
    expect(newcomer.done(2)?.code).toBe(0);
    expect(a.closed).toBe(false);
  });

  it('MaxConnections: a bound client that has been quiet longest stays; the longest-idle unbound one makes room', async () => {
    const lab = await start({ maxConnections: 3 });
    const boundQuiet = await raw();
    boundQuiet.send(bind(1, lab.adminPassword));
    await boundQuiet.until(() => boundQuiet.answers.length > 0);
    await new Promise((r) => setTimeout(r, 20));
    const anonymous = await raw();
    anonymous.send(rootDse(1));
    await anonymous.until(() => anonymous.answers.length > 0);
    const other = await raw();
    other.send(bind(1, lab.adminPassword));
    await other.until(() => other.answers.length > 0);
    const newcomer = await raw();
    newcomer.send(bind(1, lab.adminPassword));
    await newcomer.until(() => newcomer.answers.length > 0);
    await anonymous.until(() => anonymous.closed);
    expect(anonymous.answers.at(-1)).toMatchObject({ op: 0x78, code: 51 });
    expect(boundQuiet.closed).toBe(false);
    expect(other.closed).toBe(false);
  });

  it('unfinished messages cannot pile up: past the budget the connection holding most is not read (TCP backpressure), the rest are served, and InitRecvTimeout ends it', async () => {
    const lab = await start({ maxBufferedBytes: 1024 * 1024, initRecvTimeoutMs: 1500 });
    const header = Buffer.from([0x30, 0x83, 0x0f, 0x00, 0x00]); // announces 983,040 bytes
    const hogs = [await raw(), await raw(), await raw()];
    hogs[0]?.send(Buffer.concat([header, Buffer.alloc(200_000)]));
    hogs[1]?.send(Buffer.concat([header, Buffer.alloc(600_000)]));
    await new Promise((r) => setTimeout(r, 100));
    hogs[2]?.send(Buffer.concat([header, Buffer.alloc(400_000)]));
    await new Promise((r) => setTimeout(r, 100));
    // Served meanwhile: a client with a whole request.
    const ok = await raw();
    ok.send(Buffer.concat([bind(1, lab.adminPassword), search(2, '(sAMAccountName=ocsuser1)')]));
    await ok.until(() => ok.done(2) !== undefined);
    expect(ok.done(2)?.code).toBe(0);
    expect(lab.server.connections()).toBe(4);
    // Nobody finishes: each goes at its InitRecvTimeout, with a Notice of Disconnection.
    for (const h of hogs) await h.until(() => h.closed, 5000);
    expect(hogs.map((h) => h.answers.at(-1)?.diagnostic ?? '')).toEqual(hogs.map(() => expect.stringContaining('InitRecvTimeout')));
  });

  it('past the budget only connections holding more than their share stop being read; a small client with a message in pieces is served, and a paused one reads again once there is room (budget 1 MiB)', async () => {
    const lab = await start({ maxBufferedBytes: 1024 * 1024, initRecvTimeoutMs: 10_000 });
    const big = await raw();
    big.send(bind(1, lab.adminPassword));
    await big.until(() => big.answers.length > 0);
    const request = search(2, wideOr(40_000));
    expect(request.length).toBeGreaterThan(700_000);
    big.send(request.subarray(0, 700_000));
    await new Promise((r) => setTimeout(r, 100));
    const hog = await raw();
    hog.send(Buffer.concat([Buffer.from([0x30, 0x83, 0x0f, 0x00, 0x00]), Buffer.alloc(400_000)]));
    await new Promise((r) => setTimeout(r, 100));
    // A client whose request arrives in three pieces while the budget is over: it holds less than its share.
    const small = await raw();
    const request2 = Buffer.concat([bind(1, lab.adminPassword), search(2, '(sAMAccountName=ocsuser1)')]);
    for (const piece of [request2.subarray(0, 10), request2.subarray(10, 40), request2.subarray(40)]) {
      small.send(piece);
      await new Promise((r) => setTimeout(r, 30));
    }
    await small.until(() => small.done(2) !== undefined, 3000);
    expect(small.done(2)?.code).toBe(0);
    // The hog goes; the big request is read again and answered.
    hog.destroy();
    big.send(request.subarray(700_000));
    await big.until(() => big.done(2) !== undefined, 8000);
    expect(big.done(2)?.code).toBe(0);
  });

  it('many requests pipelined in one write are all answered in order, and a bad frame after them ends the connection only after they are answered', async () => {
    const lab = await start();
    const c = await raw();
    c.send(Buffer.concat([bind(1, lab.adminPassword), ...Array.from({ length: 100 }, (_, i) => search(10 + i, '(sAMAccountName=ocsuser1)')), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])]));
    await c.until(() => c.closed);
    expect(Array.from({ length: 100 }, (_, i) => c.done(10 + i)?.code)).toEqual(Array.from({ length: 100 }, () => 0));
    expect(c.answers.at(-1)).toMatchObject({ op: 0x78, code: 2 });
  });

  it('a search whose client has gone stops: nothing is left running after the close', async () => {
    const lab = await start();
    const c = await raw();
    c.send(Buffer.concat([bind(1, lab.adminPassword), search(2, wideOr(40_000))]));
    await new Promise((r) => setTimeout(r, 20));
    expect(waitingWork()).toBeGreaterThan(0);
    c.destroy();
    await new Promise((r) => setTimeout(r, 30));
    expect(waitingWork()).toBe(0);
  });

  it('a connection that queues more requests than allowed behind a running search is told busy (51)', async () => {
    const lab = await start({ maxQueuedRequests: 4 });
    const c = await raw();
    c.send(Buffer.concat([bind(1, lab.adminPassword), search(2, wideOr(20_000)), ...Array.from({ length: 8 }, (_, i) => search(10 + i, '(cn=x)'))]));
    await c.until(() => c.closed);
    expect(c.answers.at(-1)).toMatchObject({ op: 0x78, code: 51, diagnostic: expect.stringContaining('busy') });
  });
});
