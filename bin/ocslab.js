#!/usr/bin/env node
// The `ocslab` command: the bundle `npm install` built (dist/ocslab.cjs) while it is newer than every
// source it was made of, else the TypeScript through tsx, so `npx ocslab …` always runs the code as it
// is (build/bundle.js, decision 0013). With --debug or OCSLAB_DEBUG it runs the TypeScript, so that
// stack traces name the sources.
import { isFresh, runBundle } from '../build/bundle.js';

const debugging = process.argv.includes('--debug') || !['', '0', 'false', undefined].includes(process.env.OCSLAB_DEBUG);
if (!debugging && isFresh()) runBundle();
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
