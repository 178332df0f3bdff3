import { describe, expect, it } from 'vitest';
import { brokenLink, isLauncher, launcherChain, launcherName, procTable, type ProcessInfo, type ProcessTable } from './launcher.js';

/** The process tree of `npx ocslab serve` under a supervisor, as /proc shows it on this machine. */
const npxTree = (): Map<number, ProcessInfo> =>
  new Map([
    [100, { ppid: 1, argv: ['/usr/bin/supervisord'] }],
    [200, { ppid: 100, argv: ['npm exec ocslab serve --port-base 0'] }],
    [300, { ppid: 200, argv: ['sh', '-c', "'ocslab' serve --port-base 0"] }],
    [400, { ppid: 300, argv: ['node', '/root/.npm/_npx/61c8/node_modules/.bin/ocslab', 'serve', '--port-base', '0'] }],
  ]);
const tableOf = (tree: Map<number, ProcessInfo>): ProcessTable => (pid) => tree.get(pid);

describe('the launchers between a supervisor and ocslab serve', () => {
  it('are npm/npx, the sh -c npm runs scripts with, and tsx; not a supervisor, a shell or node itself', () => {
    expect(isLauncher(['npm exec ocslab serve'])).toBe(true);
    expect(isLauncher(['npm run ocslab -- serve'])).toBe(true);
    expect(isLauncher(['node', '/usr/lib/node_modules/npm/bin/npx-cli.js', 'ocslab', 'serve'])).toBe(true);
    expect(isLauncher(['sh', '-c', 'tsx cli/main.ts serve'])).toBe(true);
    expect(isLauncher(['node', '/work/main/node_modules/.bin/tsx', 'cli/main.ts', 'serve'])).toBe(true);
    expect(isLauncher(['/usr/bin/supervisord'])).toBe(false);
    expect(isLauncher(['-bash'])).toBe(false);
    expect(isLauncher(['bash', '/dev/fd/3'])).toBe(false);
    expect(isLauncher(['node', '/work/main/node_modules/vitest/dist/workers/forks.js'])).toBe(false);
    expect(['npm exec ocslab serve', 'sh|-c|x', 'node|/x/node_modules/.bin/tsx|cli/main.ts'].map((a) => launcherName(a.split('|')))).toEqual(['npm exec', 'sh -c', 'tsx']);
  });

  it('are found up to the outermost launcher, the supervisor above it left out', () => {
    const chain = launcherChain(tableOf(npxTree()), 400, 300);
    expect(chain.launchers.map((l) => l.pid)).toEqual([300, 200]);
    expect(chain.links).toEqual([
      { pid: 400, ppid: 300 },
      { pid: 300, ppid: 200 },
    ]);
    expect(launcherChain(tableOf(npxTree()), 200, 100).launchers).toEqual([]);
  });

  it('break when a launcher exits: npm stopped by its supervisor, then its sh', () => {
    const tree = npxTree();
    const chain = launcherChain(tableOf(tree), 400, 300);
    let parentOfServe = 300;
    expect(brokenLink(chain, tableOf(tree), () => parentOfServe)).toBeUndefined();
    // SIGTERM to npm: npm exits, its sh is given to init.
    tree.delete(200);
    tree.set(300, { ppid: 1, argv: ['sh', '-c', 'ocslab serve'] });
    expect(brokenLink(chain, tableOf(tree), () => parentOfServe)).toEqual({ pid: 300, ppid: 200 });
    // The sh dies of it too: node itself is given to init.
    tree.delete(300);
    parentOfServe = 1;
    expect(brokenLink(chain, tableOf(tree), () => parentOfServe)).toEqual({ pid: 400, ppid: 300 });
    // The supervisor going away is not the launchers' business (nohup npx … keeps serving).
    const intact = npxTree();
    intact.delete(100);
    expect(brokenLink(chain, tableOf(intact), () => 300)).toBeUndefined();
  });

  it('reads this process from /proc on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(procTable(process.pid)).toMatchObject({ ppid: process.ppid, argv: expect.arrayContaining([process.execPath]) });
    expect(procTable(2 ** 30)).toBeUndefined();
  });
});
