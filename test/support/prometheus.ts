// GET /metrics read with a real Prometheus text-format parser (parse-prometheus-text-format, prom2json's shape), so a
// malformed exposition fails the test instead of being read leniently.
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  families: PrometheusFamily[];
  /** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of `name`, with its labels. */
  samples(name: string): Array<{ labels: Record<string, string>; value: number }>;
}

export async function scrape(httpPort: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  const families = parsePrometheusTextFormat(await res.text());
  const samples = (name: string) =>
    (families.find((f) => f.name === name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
  return {
    families,
    samples,
    value: (name, labels = {}) => {
      const found = samples(name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}
