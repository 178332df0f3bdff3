/**
 * ≥ 10,000 generated and mutated HTTP requests against the CA's HTTP listener and the IIS listeners
 * (plain and TLS) at the end of seed-part3; afterwards valid requests still answer.
 */
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaHttp, type CaHttpListening } from '../../emulators/ca/ca.http.adapter.js';
import { caInfo } from '../../emulators/ca/ca.client.js';
import { startIisHttps, type IisListening } from '../../emulators/iis/iis.https.adapter.js';
import { curl, scratch, type Scratch } from '../support/wire-http.js';
import { walkSeed, type SeedWalk } from '../support/wire-http-iis.js';

const VALID = [
  'GET /CertEnroll/corp-DC01-CA.crl HTTP/1.1\r\nHost: dc01\r\n\r\n',
  'POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: dc01\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\nMode=newreq&CertRequest=AAAA&CertAttrib=',
  'GET /certsrv/certnew.cer?ReqID=2&Enc=b64 HTTP/1.1\r\nHost: dc01\r\n\r\n',
  'GET /Abs/Int/Handler/F.lsabs HTTP/1.1\r\nHost: pool01.corp.example.net\r\nAuthorization: Basic Q09SUFxvY3N1c2VyMTpVczNyMS1QQHNz\r\n\r\n',
  'HEAD / HTTP/1.0\r\n\r\n',
];

/** One request: a valid one mutated (bytes flipped, cut, duplicated) or fresh random bytes. */
const requestArb = fc.oneof(
  fc.tuple(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()).map(([base, flips, cut]) => {
    const b = Buffer.from(base, 'latin1');
    for (const [at, v] of flips) b[at % b.length] = v;
    return cut % 4 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
  }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'OPTIONS', 'X', ''), fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 })).map(
    ([m, path, header]) => Buffer.from(`${m} /${path} HTTP/1.1\r\nHost: ${header}\r\nAuthorization: Basic ${Buffer.from(header).toString('base64')}\r\n\r\n`, 'utf8'),
  ),
);

/** Sends many requests on few connections (pipelined); resolves when the server closes or answers. */
function blast(connect: () => net.Socket, payloads: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = connect();
    const done = () => resolve();
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => undefined);
    s.setTimeout(2000, () => s.destroy());
    s.end(Buffer.concat(payloads));
  });
}

describe('HTTP fuzz: CA and IIS listeners survive garbage', () => {
  let walk: SeedWalk;
  let ca: CaHttpListening;
  let iis: IisListening;
  let tmp: Scratch;

  beforeAll(async () => {
    walk = walkSeed();
    await walk.until();
    ca = await startCaHttp(walk.lab);
    iis = await startIisHttps(walk.lab);
    tmp = scratch();
  });
  afterAll(async () => {
    await ca?.stop();
    await iis?.stop();
    await walk?.lab.close();
    tmp?.remove();
  });

  it('10,000+ requests in bounded time, then valid requests still answer', async () => {
    const samples = fc.sample(requestArb, { numRuns: 10_500, seed: 20090901 });
    const started = Date.now();
    const batch = 25;
    const targets: Array<() => net.Socket> = [
      () => net.connect(ca.port, ca.host),
      () => net.connect(iis.httpPort, iis.host),
      () => tls.connect({ host: iis.host, port: iis.port, rejectUnauthorized: false, servername: 'pool01.corp.example.net' }),
    ];
    let sent = 0;
    const work: Promise<void>[] = [];
    for (let i = 0; i < samples.length; i += batch) {
      const target = targets[(i / batch) % targets.length];
      if (target) work.push(blast(target, samples.slice(i, i + batch)));
      sent += Math.min(batch, samples.length - i);
      if (work.length >= 24) await Promise.all(work.splice(0));
    }
    await Promise.all(work);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(Date.now() - started).toBeLessThan(60_000);

    const root = tmp.file('root.pem', caInfo(walk.lab.get('ca')).certPem);
    const crl = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${ca.url}${ca.crlPath}`]);
    expect(crl.stdout).toBe('200');
    const abs = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--cacert', root, '--resolve', `sip.example.com:${iis.port}:127.0.0.1`, `https://sip.example.com:${iis.port}/Abs/Int/Handler/`]);
    expect(abs.stdout).toBe('401');
    const http = await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${iis.httpPort}/`]);
    expect(http.stdout).toBe('200');
  }, 120_000);
});
