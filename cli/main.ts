/** The `ocslab` command. `bin/ocslab.js` and `npm start` run this file. */
import { configFromProcess } from './config.js';
import { runCli } from './program.js';

const config = configFromProcess();
process.exitCode = await runCli(process.argv.slice(2), {
  config,
  io: { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) },
  loadRegistry: async () => (await import('../emulators/index.js')).registry,
  untilStopped: () =>
    new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    }),
});
