/** The `ocslab` command. `bin/ocslab.js` and `npm start` run this file. */
import { configFromProcess } from './config.js';
import { watchLaunchers } from './launcher.js';
import { runCli } from './program.js';

const config = configFromProcess();
// A reader that went away (`ocslab steps | head`) is no error of ocslab's: nothing more is written to it.
let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  stdoutClosed = true;
});
// No top-level await: the bundle (build/bundle.js) is a script V8 keeps compiled code of.
void runCli(process.argv.slice(2), {
  config,
  io: { stdout: (s) => void (stdoutClosed || process.stdout.write(s)), stderr: (s) => process.stderr.write(s) },
  loadRegistry: async () => (await import('../emulators/index.js')).registry,
  // SIGINT, SIGTERM, or (started through npm or tsx) the launcher a supervisor stopped: cli/launcher.ts.
  untilStopped: () =>
    new Promise<string>((resolve) => {
      const watch = watchLaunchers((why) => resolve(why));
      const stop = (signal: string) => {
        watch.stop();
        resolve(signal);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    }),
}).then((code) => {
  process.exitCode = code;
});
