/**
 * baresip 1.0.0 (Debian `baresip-core`) as a real SIP client of the front end: one config directory per
 * user in a temp dir, TLS to 127.0.0.1 through an outbound proxy (no DNS), commands through the `cons`
 * UDP console (real-endpoints.md §3: `-e` fires before REGISTER completes; `net_interface lo` fails;
 * TLS listens on sip_listen + 1; `/message` goes to the current contact). Processes are spawned in their
 * own process group and killed by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const baresipAvailable = (): boolean => spawnSync('baresip', ['-h'], { stdio: 'ignore' }).error === undefined;

/** A free TCP port on 127.0.0.1 (and, best effort, the next one for baresip's TLS listener). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const p = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        const port = typeof a === 'object' && a ? a.port : 0;
        s.close(() => resolve(port));
      });
    });
    if (p % 2 === 0 || p >= 65534) continue;
    const next = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (next) return p;
  }
  throw new Error('no free port pair on 127.0.0.1');
}

export interface BaresipOptions {
  dir: string;
  sam: string;
  password: string;
  aor: string;
  proxyPort: number;
  caFile: string;
  /** The address `/message` sends to. */
  contact: string;
}

export class Baresip {
  log = '';
  private constructor(readonly proc: ChildProcess, readonly consPort: number) {
    proc.stdout?.setEncoding('utf8');
    proc.stderr?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => (this.log += d));
    proc.stderr?.on('data', (d: string) => (this.log += d));
  }

  static async start(o: BaresipOptions): Promise<Baresip> {
    const sipPort = await freePortPair();
    const consPort = await freePortPair();
    mkdirSync(o.dir, { recursive: true });
    writeFileSync(
      join(o.dir, 'config'),
      [
        'poll_method\t\tepoll',
        `sip_listen\t\t127.0.0.1:${sipPort}`,
        `sip_cafile\t\t${o.caFile}`,
        'sip_trans_def\t\ttls',
        'net_interface\t\t127.0.0.1',
        'net_prefer_ipv6\t\tno',
        'dns_server\t\t127.0.0.1:53',
        'module_path\t\t/usr/lib/baresip/modules',
        'module\t\t\tg711.so',
        'module\t\t\tausine.so',
        'module\t\t\taufile.so',
        'audio_source\t\tausine,440',
        'audio_player\t\taufile,/dev/null',
        'module_app\t\taccount.so',
        'module_app\t\tcontact.so',
        'module_app\t\tmenu.so',
        'module\t\t\tcons.so',
        `cons_listen\t\t127.0.0.1:${consPort}`,
        '',
      ].join('\n'),
    );
    const user = o.aor.replace(/^sip:/, '');
    writeFileSync(
      join(o.dir, 'accounts'),
      `<sip:${user};transport=tls>;auth_user=${o.sam};auth_pass=${o.password};outbound="sip:127.0.0.1:${o.proxyPort};transport=tls";regint=300;answermode=manual\n`,
    );
    writeFileSync(join(o.dir, 'contacts'), `"peer" <${o.contact}>\n`);
    const proc = spawn('baresip', ['-f', o.dir, '-s', '-t', '60'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    return new Baresip(proc, consPort);
  }

  async waitFor(pattern: RegExp, timeoutMs = 8000): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.log);
      if (m) return m;
      if (Date.now() > until || this.proc.exitCode !== null) throw new Error(`baresip: ${pattern} not seen within ${timeoutMs} ms; log:\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A console command (`/message text`) over the cons UDP port. */
  command(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.send(`${text}\n`, this.consPort, '127.0.0.1', (err) => {
        s.close();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Kills the process group by the child's PID. */
  async stop(): Promise<void> {
    const pid = this.proc.pid;
    if (pid === undefined || this.proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 2000);
    await exited;
    clearTimeout(timer);
  }
}
