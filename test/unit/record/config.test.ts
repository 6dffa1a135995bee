// The recording flags of server/config.ts and "record": true per stream in the config file.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../server/config.ts';

const parse = (argv: string[], files: Record<string, unknown> = {}) =>
  parseConfig(argv, {}, (p) => {
    if (!(p in files)) throw new Error(`ENOENT: ${p}`);
    return JSON.stringify(files[p]);
  });

const config = (argv: string[], files: Record<string, unknown> = {}) => {
  const r = parse(argv, files);
  if (r.ok !== true) throw new Error(JSON.stringify(r));
  return r.config;
};

const error = (argv: string[], files: Record<string, unknown> = {}) => {
  const r = parse(argv, files);
  if (r.ok !== false) throw new Error(`expected an error for ${argv.join(' ')}`);
  return r.error;
};

describe('recording flags', () => {
  it('records nothing by default, every stream with --record DIR, 60 s segments, no bounds', () => {
    expect(config([]).record).toBeUndefined();
    expect(config(['--record', '/var/rec']).record).toEqual({ dir: '/var/rec', streams: 'all', segmentMs: 60_000 });
  });

  it('reads the segment length and the bounds', () => {
    expect(config(['--record', 'rec', '--record-segment', '5', '--record-max-size', '500M', '--record-max-age', '7d']).record).toEqual({
      dir: 'rec', streams: 'all', segmentMs: 5000, maxBytes: 500 * 1024 ** 2, maxAgeMs: 7 * 86_400_000,
    });
  });

  it('chooses streams with --record-streams and "record": true in the config file, together', () => {
    expect(config(['--record', 'rec', '--record-streams', 'cam1, cam2']).record?.streams).toEqual(['cam1', 'cam2']);
    const file = { record: 'rec', recordMaxSize: '20G', streams: { lobby: { record: true }, door: { outputs: ['rtmp://a/live/k'], record: true }, yard: { record: false, outputs: [] } } };
    const c = config(['--config', 'c.json', '--record-streams', 'cam1'], { 'c.json': file });
    expect(c.record).toEqual({ dir: 'rec', streams: ['cam1', 'lobby', 'door'], segmentMs: 60_000, maxBytes: 20 * 1024 ** 3 });
    expect(c.streamOutputs).toEqual({ door: ['rtmp://a/live/k'], yard: [] });
  });

  it('refuses what cannot work, with a sentence', () => {
    expect(error(['--record-segment', '5'])).toMatch(/--record-segment .*needs --record DIR/);
    expect(error(['--config', 'c.json'], { 'c.json': { streams: { lobby: { record: true } } } })).toMatch(/needs --record DIR/);
    expect(error(['--record', 'rec', '--record-segment', '0.5'])).toMatch(/--record-segment must be at least 1 second/);
    expect(error(['--record', 'rec', '--record-max-size', 'lots'])).toMatch(/--record-max-size must be a size like 500M/);
    expect(error(['--record', 'rec', '--record-max-age', '3 weeks'])).toMatch(/--record-max-age must be an age like 24h/);
    expect(error(['--record', 'rec', '--record-streams', 'ok,../etc'])).toMatch(/--record-streams: "..\/etc" is not a valid stream name/);
    expect(error(['--config', 'c.json'], { 'c.json': { record: 'rec', streams: { lobby: { record: 'yes' } } } })).toMatch(/"streams.lobby.record" in c.json must be true or false/);
  });
});
