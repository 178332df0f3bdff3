/**
 * A serving process must not outlive the launcher a supervisor stops. Through npm (`npx ocslab serve`,
 * `npm run ocslab -- serve`) the process tree is npm → `sh -c …` → node (and for `npm run`, tsx's own
 * process in between). A supervisor signals the PID it knows, npm's: npm 10/11 passes SIGTERM on to
 * its shell only, and dash dies of it without passing it on, so node is orphaned and keeps serving, its
 * ports held. So `serve` notes that chain of launchers when it starts and stops when any of them goes
 * away, as it stops on SIGTERM. A process started directly (`node bin/ocslab.js serve`, under nohup or a
 * supervisor) has no launcher chain and is stopped by its own signals only.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcessInfo {
  ppid: number;
  argv: string[];
}

/** What the operating system says of a process, or undefined when it is gone (or cannot be read). */
export type ProcessTable = (pid: number) => ProcessInfo | undefined;

/** Linux: /proc/<pid>/stat (the parent, after the command name in parentheses) and /proc/<pid>/cmdline. */
export const procTable: ProcessTable = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    return Number.isInteger(ppid) ? { ppid, argv } : undefined;
  } catch {
    return undefined;
  }
};

/** Elsewhere (macOS, the BSDs): `ps`, once per process when serve starts. */
export const psTable: ProcessTable = (pid) => {
  try {
    const out = execFileSync('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const m = /^(\d+)\s+(.*)$/.exec(out);
    return m ? { ppid: Number(m[1]), argv: (m[2] ?? '').split(/\s+/) } : undefined;
  } catch {
    return undefined;
  }
};

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ash', 'ksh']);

/**
 * Whether a process is one of the launchers between a supervisor and ocslab: npm or npx (whose process
 * title reads "npm exec …" or "npm run …"), the `sh -c` that npm runs a script or a bin with, or tsx's
 * command line (which starts ocslab in a child node process of its own).
 */
export function isLauncher(argv: readonly string[]): boolean {
  const [first = '', second = ''] = argv;
  const command = basename(first.split(' ')[0] ?? '');
  if (command === 'npm' || command === 'npx') return true;
  if (SHELLS.has(command) && second === '-c') return true;
  return argv.some((a, i) => i > 0 && i < 3 && /(^|\/)(npm-cli|npx-cli)\.js$|(^|\/)tsx$|\/tsx\/dist\/cli\.m?js$/.test(a));
}

/** "npm exec", "sh -c", "tsx": how a launcher reads in a message. */
export function launcherName(argv: readonly string[]): string {
  const [first = '', second = ''] = argv;
  const words = first.split(' ');
  const command = basename(words[0] ?? '');
  if (command === 'npm' || command === 'npx') return words.length > 1 ? `${command} ${words[1] ?? ''}` : command;
  if (SHELLS.has(command)) return `${command} ${second}`;
  const script = argv.slice(1, 3).find((a) => /(npm-cli|npx-cli)\.js$|tsx$|cli\.m?js$/.test(a));
  return script ? (/tsx/.test(script) ? 'tsx' : basename(script).replace(/-cli\.js$/, '')) : command;
}

/** One link of the chain: `pid` had `ppid` as its parent when serve started. */
export interface Link {
  pid: number;
  ppid: number;
}

export interface LauncherChain {
  /** The launchers, nearest first (empty when ocslab was not started through one). */
  launchers: Array<{ pid: number; argv: string[] }>;
  /** This process and each launcher but the outermost, with their parents: all must stay as they are. */
  links: Link[];
}

/** The launchers above `self` (whose parent is `ppid`), as `table` shows them now. */
export function launcherChain(table: ProcessTable, self: number, ppid: number): LauncherChain {
  const launchers: LauncherChain['launchers'] = [];
  const links: Link[] = [];
  let child = self;
  let parent = ppid;
  for (let depth = 0; depth < 8 && parent > 1; depth++) {
    const info = table(parent);
    if (!info || !isLauncher(info.argv)) break;
    links.push({ pid: child, ppid: parent });
    launchers.push({ pid: parent, argv: info.argv });
    child = parent;
    parent = info.ppid;
  }
  return { launchers, links };
}

/**
 * The first link that no longer holds: a launcher that exited (its child was given another parent), or
 * one that cannot be seen any more. Undefined while the chain is whole.
 */
export function brokenLink(chain: LauncherChain, table: ProcessTable, ownParent: () => number): Link | undefined {
  return chain.links.find((l, i) => (i === 0 ? ownParent() : table(l.pid)?.ppid) !== l.ppid);
}

/** `kill -0` for the tables that cannot be read again cheaply (ps): a launcher is gone when its PID is. */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
};

export interface LauncherWatch {
  chain: LauncherChain;
  stop(): void;
}

/**
 * Watches this process's launchers (every `intervalMs`, on an unref'd timer) and calls `onGone` once,
 * with a description, when one of them has gone away.
 */
export function watchLaunchers(onGone: (why: string) => void, intervalMs = 500): LauncherWatch {
  const linux = procTable(process.pid) !== undefined;
  const table = linux ? procTable : psTable;
  const chain = launcherChain(table, process.pid, process.ppid);
  if (!chain.launchers.length) return { chain, stop: () => undefined };
  const describe = (pid: number) => `its launcher ${launcherName(chain.launchers.find((x) => x.pid === pid)?.argv ?? [])} (PID ${pid})`;
  const timer = setInterval(() => {
    const gone = linux ? brokenLink(chain, procTable, () => process.ppid)?.ppid : chain.launchers.find((l) => !alive(l.pid))?.pid;
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(`${describe(gone)} exited`);
  }, intervalMs);
  timer.unref();
  return { chain, stop: () => clearInterval(timer) };
}
