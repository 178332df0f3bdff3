/**
 * Signing out leaves nothing running. A registrar that answers the sign-in REGISTER and then never
 * answers the un-REGISTER (it stopped, or it closed the connection as the un-REGISTER went out: the
 * Front-End service stopping while a client is signed in) must not leave the client's registration
 * refresh and expiry timers (sip.js keeps them on the wall clock, an hour long) holding the process.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSocket, SipSession } from './communicator.wire.js';

type Goodbye = 'silent' | 'close';

/** A registrar on loopback: 200 to the first REGISTER; to the un-REGISTER (Expires 0), `goodbye`. */
function registrar(goodbye: Goodbye): Promise<{ server: Server; port: number }> {
  const server = createServer((socket: Socket) => {
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.slice(0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.slice(end + 4 + length);
        const header = (name: string) => new RegExp(`\\r\\n${name}:\\s*([^\\r\\n]*)`, 'i').exec(head)?.[1] ?? '';
        if (header('contact').includes('expires=0')) {
          if (goodbye === 'close') socket.destroy();
          continue;
        }
        const contact = header('contact').replace(/;expires=\d+/, '');
        socket.write(
          [
            'SIP/2.0 200 OK',
            `Via: ${header('via')}`,
            `From: ${header('from')}`,
            `To: ${header('to')};tag=registrar`,
            `Call-ID: ${header('call-id')}`,
            `CSeq: ${header('cseq')}`,
            `Contact: ${contact};expires=3600`,
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
        );
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

/**
 * The wall-clock timers armed while it runs that are still pending afterwards (neither fired nor
 * cleared), with their delays.
 */
async function pendingTimersAfter(run: () => Promise<void>): Promise<number[]> {
  const pending = new Map<unknown, number>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const set = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t: unknown = realSet((...a: unknown[]) => {
      pending.delete(t);
      fn(...a);
    }, ms, ...args);
    pending.set(t, ms ?? 0);
    return t;
  };
  const clear = (t: unknown) => {
    pending.delete(t);
    realClear(t as Parameters<typeof clearTimeout>[0]);
  };
  vi.stubGlobal('setTimeout', set);
  vi.stubGlobal('clearTimeout', clear);
  try {
    await run();
  } finally {
    vi.unstubAllGlobals();
  }
  return [...pending.values()];
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('a Communicator signing out from a registrar that does not answer the un-REGISTER', () => {
  for (const goodbye of ['silent', 'close'] as const) {
    it(`leaves no timer behind (${goodbye === 'silent' ? 'the registrar stays silent' : 'the registrar closes the connection'})`, async () => {
      const r = await registrar(goodbye);
      server = r.server;
      const left = await pendingTimersAfter(async () => {
        const socket = await openSocket({ host: '127.0.0.1', port: r.port });
        const session = new SipSession({
          aor: 'sip:ocsuser1@example.com',
          account: 'ocsuser1',
          password: 'unused',
          connected: {
            socket,
            candidate: { host: 'sip.example.com', port: r.port, transport: 'TCP', via: 'manual', addresses: ['127.0.0.1'] },
            attempt: { host: 'sip.example.com', address: '127.0.0.1', port: r.port, transport: 'TCP' },
          },
        });
        expect((await session.register()).status).toBe(200);
        await session.close();
      });
      // Only the sign-out's own bounded waits (2 s, unref'd) may still be pending.
      expect(left.filter((ms) => ms > 2000)).toEqual([]);
    });
  }
});
