/**
 * A real domain controller for tests: Samba AD DC provisioned as the lab's forest (corp.example.net /
 * CORP) on a loopback address of its own, started in the foreground with `-M single` (7 processes, not
 * 50), and stopped by PID (a started handle with readiness and disposal, testcontainers-style).
 * Provisioning takes seconds, so it happens once per test run; each DC starts from a copy.
 *
 * Traps from ../shared/reference/real-endpoints.md §1 handled here: `--targetdir` keeps everything out of
 * /etc and /var; the log, pid and socket directories are moved under it too; the `dns forwarder` line
 * (the machine's own resolver) is deleted, and `RESOLV_CONF` points at the DC itself, so nothing asks
 * the machine's resolver about a lab name; simple binds on 389 are allowed and the schema may be
 * extended; NetBIOS is off.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'node:net';

const run = promisify(execFile);

/** Samba binds interfaces it finds configured, so it takes loopback's own address (127.0.0.1, ::1). */
export const SAMBA_ADDRESS = '127.0.0.1';
export const SAMBA_ADMIN_PASSWORD = 'Passw0rd!Lab';

export const sambaInstalled = () => existsSync('/usr/sbin/samba') && existsSync('/usr/bin/samba-tool');

let provisioned: Promise<string> | undefined;

/** Provisions once per process into a temporary directory; later DCs copy it. */
function provisionOnce(): Promise<string> {
  provisioned ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-samba-'));
    await run(
      'samba-tool',
      [
        'domain', 'provision', `--targetdir=${dir}`, '--realm=CORP.EXAMPLE.NET', '--domain=CORP', '--server-role=dc', '--dns-backend=SAMBA_INTERNAL',
        `--adminpass=${SAMBA_ADMIN_PASSWORD}`, '--host-name=dc01', `--host-ip=${SAMBA_ADDRESS}`,
        '--option=interfaces=lo', '--option=bind interfaces only=yes', '--option=disable netbios=yes',
      ],
      { env: { ...process.env, RESOLV_CONF: join(dir, 'resolv.conf') }, timeout: 120_000 },
    );
    return dir;
  })();
  return provisioned;
}

export interface SambaDc {
  address: string;
  dir: string;
  pid: number;
  smbConf: string;
  /** ldapmodify as the administrator (plain LDAP: the DC allows simple binds without TLS), for a test's own setup. */
  ldapmodify(ldif: string): Promise<string>;
  stop(): Promise<void>;
}

/** Waits until something accepts TCP on address:port (bounded). */
async function listening(address: string, port: number, limitMs: number): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export async function startSambaDc(): Promise<SambaDc> {
  const source = await provisionOnce();
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-samba-dc-'));
  cpSync(source, dir, { recursive: true });
  const smbConf = join(dir, 'etc', 'smb.conf');
  // The provision wrote its own paths into smb.conf; point them at the copy.
  let conf = readFileSync(smbConf, 'utf8').split(source).join(dir);
  conf = conf.replace(/^\s*dns forwarder = .*$/m, '').replace(/^\s*log file = .*$/m, '').replace(/^\s*logging = .*$/m, '');
  conf = conf.replace(
    /^\[global\]$/m,
    [
      '[global]',
      '\tldap server require strong auth = no',
      '\tdsdb:schema update allowed = true',
      `\tlog file = ${dir}/log.%m`,
      `\tpid directory = ${dir}/run`,
      `\tncalrpc dir = ${dir}/run/ncalrpc`,
      `\twinbindd socket directory = ${dir}/run/winbindd`,
      `\tntp signd socket directory = ${dir}/run/ntp_signd`,
      // Only what the tests ask: LDAP, DNS, Kerberos. No RPC (its listeners take ports from the range the
      // machine gives other sockets), no SMB, no dynamic DNS updates through the machine's resolver.
      '\tserver services = ldap cldap dns kdc',
    ].join('\n'),
  );
  writeFileSync(smbConf, conf);
  writeFileSync(join(dir, 'resolv.conf'), `nameserver ${SAMBA_ADDRESS}\n`);
  const child: ChildProcess = spawn('samba', ['-i', '-M', 'single', '-s', smbConf], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, RESOLV_CONF: join(dir, 'resolv.conf') },
  });
  const pid = child.pid as number;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (!(await listening(SAMBA_ADDRESS, 389, 60_000)) || !(await listening(SAMBA_ADDRESS, 53, 10_000))) {
    await stop();
    throw new Error('Samba AD DC did not start listening on LDAP and DNS');
  }
  const ldapmodify = (ldif: string) =>
    new Promise<string>((resolve, reject) => {
      const p = execFile('ldapmodify', ['-x', '-H', `ldap://${SAMBA_ADDRESS}`, '-D', 'CORP\\Administrator', '-w', SAMBA_ADMIN_PASSWORD], { env: { ...process.env, LDAPNOINIT: '1' }, timeout: 30_000 }, (e, out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out)));
      p.stdin?.end(ldif);
    });
  return { address: SAMBA_ADDRESS, dir, pid, smbConf, ldapmodify, stop };
}

/** Removes the provisioned source directory (after the last DC of the run). */
export async function forgetProvision(): Promise<void> {
  if (!provisioned) return;
  const dir = await provisioned.catch(() => undefined);
  provisioned = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
}
