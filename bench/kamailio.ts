/**
 * Kamailio (Debian `kamailio`, ../shared/reference/real-endpoints.md §2) as the yardstick for the front
 * end's registrar: the same load generator (bench/wire-load.ts: REGISTER → 401 → REGISTER with Digest →
 * 200 over TCP, 16 connections) against a Kamailio registrar on loopback doing the same Digest work
 * (every user's password "secret", no database). Started and stopped by PID; absent, it says so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { freePort, untilListening } from '../test/support/ports.js';
import { join } from 'node:path';

export const KAMAILIO = '/usr/sbin/kamailio';
export const kamailioAvailable = () => existsSync(KAMAILIO);

const config = (port: number) => `#!KAMAILIO
# The lab's yardstick registrar: TCP on loopback, Digest with a static password, no database.
debug=1
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
alias="example.com"
listen=tcp:127.0.0.1:${port}
tcp_accept_no_cl=yes
dns=no
rev_dns=no
use_dns_cache=no
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "sanity.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (!sanity_check("1511", "7")) { exit; }
  if (is_method("REGISTER")) {
    if (!pv_www_authenticate("$td", "secret", "0")) { www_challenge("$td", "0"); exit; }
    consume_credentials();
    if (!save("location")) sl_reply_error();
    exit;
  }
  sl_send_reply("501", "Not Implemented");
}
`;

export interface Kamailio {
  /** An endpoints file the load generator reads: the SIP port and eight users. */
  endpointsFile: string;
  stop(): Promise<void>;
}

export async function startKamailio(dir: string): Promise<Kamailio> {
  mkdirSync(join(dir, 'run'), { recursive: true });
  const port = await freePort();
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(cfg, config(port));
  const pidFile = join(dir, 'run', 'kamailio.pid');
  const child = spawn(KAMAILIO, ['-DD', '-E', '-f', cfg, '-Y', join(dir, 'run'), '-P', pidFile, '-m', '64', '-M', '8'], { stdio: 'ignore' });
  if (!(await untilListening(port, () => child.exitCode !== null))) {
    child.kill('SIGKILL');
    throw new Error('kamailio did not start listening');
  }
  const endpointsFile = join(dir, 'kamailio-endpoints.json');
  const users = Array.from({ length: 8 }, (_, i) => ({ sam: `user${i + 1}`, sipUri: `sip:user${i + 1}@example.com`, password: 'secret' }));
  writeFileSync(endpointsFile, JSON.stringify({ sipTcp: { host: '127.0.0.1', port }, users }));
  return {
    endpointsFile,
    stop: async () => {
      // -DD keeps the main process in the foreground: it is the PID we started, and it stops its children.
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
