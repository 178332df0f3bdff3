/** Loopback ports for real servers the tests and benchmarks start (bitlbee, Kamailio). */
import { connect, createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits until 127.0.0.1:`port` accepts connections; false when `gone()` says the server exited, or after `ms`. */
export async function untilListening(port: number, gone: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return true;
    if (Date.now() > deadline || gone()) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
