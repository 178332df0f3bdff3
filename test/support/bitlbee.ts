/**
 * bitlbee with libpurple (and so pidgin-sipe, the real OCS client) for tests: a forking daemon on
 * 127.0.0.1 with its own configuration and state folders, driven as an IRC client, stopped by its PID
 * with every child it forked (../shared/reference/pidgin-sipe.md).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, type Socket } from 'node:net';
import { freePort, untilListening } from './ports.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const bitlbeeAvailable = existsSync('/usr/sbin/bitlbee') && existsSync('/usr/lib/purple-2/libsipe.so');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SHIM_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'native', 'sipe-libxml-sax1.c');

/**
 * The LD_PRELOAD shim that lets Debian 12's pidgin-sipe read XML (native/sipe-libxml-sax1.c, decision
 * 0015): built once per source version with the C compiler into the temporary folder. Without it sipe
 * signs in and exchanges IMs but parses no document, so it shows no contacts and no presence.
 */
export function sipeXmlShim(): string {
  const source = readFileSync(SHIM_SOURCE);
  const out = join(tmpdir(), `ocslab-sipe-libxml-sax1-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.so`);
  if (existsSync(out)) return out;
  const partial = `${out}.${process.pid}.tmp`;
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', partial, SHIM_SOURCE, '-ldl'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cannot build the pidgin-sipe XML shim (${SHIM_SOURCE}) with cc: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message} (apt-get install gcc libc6-dev)`);
  }
  renameSync(partial, out);
  return out;
}

/** The children of a process (Linux: /proc), so that a stop leaves none of bitlbee's forks behind. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

export class Bitlbee {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly pid: number,
  ) {}

  /**
   * With `hosts` (and `trust`), the daemon runs in a mount namespace of its own (`unshare --mount`), with a
   * hosts file over /etc/hosts and a folder holding only the `trust` roots (PEM) over /etc/ssl/certs
   * (libpurple's NSS build trusts what is there): a client that must dial a name, as TLS checks the
   * certificate against it, reaches the lab without any query to the machine's resolver and trusts the
   * lab's root alone; nothing else on the machine sees either change.
   */
  static async start(o: { trust?: string[]; hosts?: Record<string, string> } = {}): Promise<Bitlbee> {
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-bitlbee-'));

    const port = await freePort();
    const conf = join(dir, 'bitlbee.conf');
    const pidfile = join(dir, 'bitlbee.pid');
    mkdirp(join(dir, 'var'));
    writeFileSync(conf, ['[settings]', 'RunMode = ForkDaemon', 'DaemonInterface = 127.0.0.1', `DaemonPort = ${port}`, 'AuthMode = Open', `ConfigDir = ${join(dir, 'var')}`, `Pidfile = ${pidfile}`, ''].join('\n'));
    // HOME: libpurple keeps its own state (~/.purple) there, away from the user's.
    const args = [...(process.env.BITLBEE_VERBOSE ? ['-v'] : []), '-n', '-F', '-c', conf, '-d', join(dir, 'var'), '-P', pidfile];
    // The shim is preloaded into every process of the daemon (unshare and sh only pass it on).
    const env = { ...process.env, HOME: dir, LD_PRELOAD: [sipeXmlShim(), process.env.LD_PRELOAD].filter(Boolean).join(' ') };
    let child;
    if (o.hosts || o.trust) {
      const hosts = join(dir, 'hosts');
      writeFileSync(hosts, ['127.0.0.1 localhost', ...Object.entries(o.hosts ?? {}).map(([name, ip]) => `${ip} ${name}`), ''].join('\n'));
      // exec: the PID is bitlbee's own, as without the namespace.
      const certs = join(dir, 'certs');
      mkdirp(certs);
      (o.trust ?? []).forEach((pem, i) => writeFileSync(join(certs, `ocslab-trusted-${i}.pem`), pem));
      child = spawn('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/ssl/certs && shift && exec /usr/sbin/bitlbee "$@"', hosts, certs, ...args], { env, stdio: process.env.BITLBEE_VERBOSE ? ['ignore', 'inherit', 'inherit'] : 'ignore' });
    } else {
      child = spawn('/usr/sbin/bitlbee', args, { env, stdio: process.env.BITLBEE_VERBOSE ? ['ignore', 'inherit', 'inherit'] : 'ignore' });
    }
    if (!(await untilListening(port, () => child.exitCode !== null))) {
      child.kill('SIGKILL');
      throw new Error('bitlbee did not start listening');
    }
    return new Bitlbee(dir, port, child.pid as number);
  }

  /** An IRC session with the gateway, joined to &bitlbee. */
  async irc(nick = 'tester'): Promise<Irc> {

    const irc = new Irc(connect({ host: '127.0.0.1', port: this.port }));
    irc.send(`NICK ${nick}`);
    irc.send(`USER ${nick} 0 * :${nick}`);
    await irc.waitFor(/ 001 /, 10_000);
    irc.send('JOIN &bitlbee');
    await irc.waitFor(/ 366 /, 10_000);
    return irc;
  }

  /** Stops the daemon and every child it forked, by PID, and removes its folders. */
  async stop(): Promise<void> {
    const pids = [this.pid, ...childrenOf(this.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(50);
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
  } catch {
    return false;
  }
};

function mkdirp(path: string) {
  mkdirSync(path, { recursive: true });
}

export class Irc {
  readonly lines: string[] = [];
  private buffer = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: (line: string) => void }> = [];
  private seen = 0;

  constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      let i;
      while ((i = this.buffer.indexOf('\r\n')) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        if (line.startsWith('PING ')) this.send(`PONG ${line.slice(5)}`);
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.re.test(line)) {
            this.waiters = this.waiters.filter((x) => x !== w);
            w.resolve(line);
          }
        }
      }
    });
    socket.on('error', () => undefined);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** A command to the gateway, in its control channel. */
  command(text: string): void {
    this.send(`PRIVMSG &bitlbee :${text}`);
  }

  /** The next line (after those already waited past) matching `re`; rejects after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<string> {
    const from = this.seen;
    const earlier = this.lines.slice(from).find((l) => re.test(l));
    if (earlier) {
      this.seen = this.lines.indexOf(earlier, from) + 1;
      return Promise.resolve(earlier);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.re !== re);
        reject(new Error(`no IRC line matching ${re} within ${ms} ms; last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, ms);
      this.waiters.push({
        re,
        from,
        resolve: (line) => {
          clearTimeout(timer);
          this.seen = this.lines.length;
          resolve(line);
        },
      });
    });
  }

  close(): void {
    this.send('QUIT :bye');
    this.socket.destroy();
  }
}
