import { stormBench } from './storm.js';
for await (const row of stormBench((process.env.STORM_SIZES ?? '1000').split(',').map(Number))) console.log(row);
