// Refusals and authentication failures counted from the servers' own log events.
import { Registry } from 'prom-client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../server/log.ts';
import { EventCounters } from '../../../server/metrics/events.ts';

async function values(registry: Registry, name: string): Promise<Array<{ labels: Record<string, string>; value: string }>> {
  const families = parsePrometheusTextFormat(await registry.metrics()) as Array<{ name: string; metrics: Array<{ labels: Record<string, string>; value: string }> }>;
  return families.find((f) => f.name === name)?.metrics ?? [];
}

describe('EventCounters', () => {
  it('counts a viewer refused for wrong credentials as an auth failure and one over the limit as a refusal', async () => {
    const registry = new Registry();
    const logger = new EventCounters(registry).tap(createLogger({ sink: () => {} }));
    const viewers = logger.child({ component: 'viewer' });
    viewers.warn('viewer.refused', { stream: 'cam', code: 'unauthorized' });
    viewers.warn('viewer.refused', { stream: 'cam', code: 'limit' });
    viewers.warn('viewer.refused', { stream: 'cam', code: 'limit' });
    logger.info('publish-refused', { stream: 'cam', reason: 'in-use' });
    expect(await values(registry, 'relaycast_auth_failures_total')).toContainEqual({ labels: { protocol: 'viewer' }, value: '1' });
    const refused = await values(registry, 'relaycast_requests_refused_total');
    expect(refused).toContainEqual({ labels: { protocol: 'viewer', reason: 'limit' }, value: '2' });
    expect(refused).toContainEqual({ labels: { protocol: 'rtsp', reason: 'in-use' }, value: '1' });
  });
});
