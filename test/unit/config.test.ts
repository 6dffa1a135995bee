import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../server/config.ts';

const ok = (argv: string[], env = {}, files: Record<string, string> = {}) => {
  const r = parseConfig(argv, env, (p) => {
    const f = files[p];
    if (f === undefined) throw new Error(`ENOENT: ${p}`);
    return f;
  });
  if (r.ok !== true) throw new Error(JSON.stringify(r));
  return r.config;
};
const err = (argv: string[], files: Record<string, string> = {}) => {
  const r = parseConfig(argv, {}, (p) => files[p] ?? '');
  if (r.ok !== false) throw new Error(`expected an error for ${argv.join(' ')}`);
  return r.error;
};

describe('parseConfig', () => {
  it('has the documented defaults', () => {
    expect(ok([])).toMatchObject({
      host: '0.0.0.0', rtspPort: 8554, httpPort: 8090, maxClients: 1000, maxBandwidthKbps: 1_000_000,
      maxPublishers: 100, publisherGraceMs: 5000, udpPorts: { min: 10000, max: 19999 }, outputs: [], allowOrigins: [], logLevel: 'info',
      logFormat: 'json',
    });
    expect(ok([])).not.toHaveProperty('adminToken');
  });

  it('reads the admin token (flag or environment) and the log format', () => {
    expect(ok(['--admin-token', 'a'.repeat(16), '--log-format', 'pretty'])).toMatchObject({ adminToken: 'a'.repeat(16), logFormat: 'pretty' });
    expect(ok([], { RELAYCAST_ADMIN_TOKEN: 'env-token-0123456789' }).adminToken).toBe('env-token-0123456789');
  });

  it('reads flags', () => {
    const c = ok(['--host', '127.0.0.1', '--rtsp-port', '9554', '--http-port', '9090', '--max-clients', '2', '--max-bandwidth', '0', '--publisher-grace', '0.5', '--output', 'rtmp://h/live/{stream}', '--output', 'rtsp://h2/x']);
    expect(c).toMatchObject({ host: '127.0.0.1', rtspPort: 9554, httpPort: 9090, maxClients: 2, maxBandwidthKbps: 0, publisherGraceMs: 500 });
    expect(c.outputs).toEqual(['rtmp://h/live/{stream}', 'rtsp://h2/x']);
  });

  it('takes secrets from the environment', () => {
    const c = ok(['--publish-user', 'cam'], { RELAYCAST_PUBLISH_PASS: 'pw', RELAYCAST_PUBLISH_TOKEN: 'token-1234' });
    expect(c.publish).toEqual({ username: 'cam', password: 'pw' });
    expect(c.publishToken).toBe('token-1234');
  });

  it('merges a config file under the flags', () => {
    const file = JSON.stringify({ httpPort: 7000, rtspPort: 7554, outputs: ['rtmp://a/live/k1'], streams: { cam: { outputs: ['rtmp://b/live/k2'] } }, allowOrigins: ['https://studio.example'] });
    const c = ok(['--config', 'c.json', '--rtsp-port', '7555'], {}, { 'c.json': file });
    expect(c).toMatchObject({ httpPort: 7000, rtspPort: 7555, outputs: ['rtmp://a/live/k1'], streamOutputs: { cam: ['rtmp://b/live/k2'] }, allowOrigins: ['https://studio.example'] });
  });

  it.each([
    [['--rtsp-port', '70000'], /port number/],
    [['--rtsp-port', 'abc'], /whole number/],
    [['--max-clients', '0'], /≥ 1/],
    [['--udp-ports', '100-200'], /--udp-ports/],
    [['--publish-user', 'x'], /go together/],
    [['--tls-cert', 'c.pem'], /go together/],
    [['--publish-token', 'short'], /at least 8/],
    [['--output', 'file:///etc/passwd'], /not supported/],
    [['--output', '-f'], /output/i],
    [['--allow-origin', 'not a url'], /origin/],
    [['--log-level', 'loud'], /--log-level/],
    [['--log-format', 'xml'], /--log-format must be json or pretty/],
    [['--admin-token', 'short'], /at least 16/],
    [['--admin-token', 'has a space in it, long'], /no spaces/],
    [['--rtsp-port', '9000', '--http-port', '9000'], /must differ/],
    [['--nope'], /--help/],
  ])('refuses %j with a sentence', (argv, message) => {
    expect(err(argv)).toMatch(message);
  });

  it('refuses a config file with unknown keys or bad stream names, naming the file', () => {
    expect(err(['--config', 'a.json'], { 'a.json': '{"htpPort": 1}' })).toMatch(/unknown key "htpPort" in a\.json/);
    expect(err(['--config', 'a.json'], { 'a.json': '{"streams": {"../x": {"outputs": []}}}' })).toMatch(/not a valid stream name/);
    expect(err(['--config', 'a.json'], { 'a.json': 'not json' })).toMatch(/cannot read --config a\.json/);
  });

  it('never echoes an output URL (it may hold a stream key) in its errors', () => {
    const e = err(['--output', 'http://h/live/SECRETKEY123']);
    expect(e).not.toContain('SECRETKEY123');
  });

  it('caps RTSP clients per address, sparing loopback unless a cap is set explicitly', () => {
    expect(ok([])).toMatchObject({ maxConnectionsPerIp: 64, maxSessionsPerIp: 32, perIpLoopback: { connections: false, sessions: false }, playTimeoutMs: 10_000 });
    expect(ok(['--max-connections-per-ip', '4', '--play-timeout', '1.5'])).toMatchObject({
      maxConnectionsPerIp: 4, maxSessionsPerIp: 32, perIpLoopback: { connections: true, sessions: false }, playTimeoutMs: 1500,
    });
    // 0 = no limit; set explicitly it still counts as set.
    expect(ok(['--max-sessions-per-ip', '0'])).toMatchObject({ maxSessionsPerIp: 0, perIpLoopback: { connections: false, sessions: true } });
    // The config file is as explicit as a flag.
    expect(ok(['--config', 'c.json'], {}, { 'c.json': '{"maxSessionsPerIp": 2, "playTimeout": 3}' })).toMatchObject({
      maxSessionsPerIp: 2, perIpLoopback: { connections: false, sessions: true }, playTimeoutMs: 3000,
    });
    expect(err(['--max-connections-per-ip=-1'])).toMatch(/--max-connections-per-ip must be a whole number ≥ 0/);
    expect(err(['--max-sessions-per-ip', 'lots'])).toMatch(/--max-sessions-per-ip must be a whole number ≥ 0/);
    expect(err(['--play-timeout', '0'])).toMatch(/--play-timeout must be more than 0 seconds/);
    expect(err(['--play-timeout', 'soon'])).toMatch(/--play-timeout must be a number of seconds/);
  });

  it('answers --help', () => {
    expect(parseConfig(['--help'])).toEqual({ ok: 'help' });
  });
});
