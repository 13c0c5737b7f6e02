import { Counter, Gauge, type Registry } from "prom-client";

/** Sets one labelled value of a counter being rebuilt. */
export type SetTotal<L extends string> = (labels: Partial<Record<L, string>>, value: number) => void;

/**
 * Factories of Prometheus counters and gauges whose values are read from a stats source at scrape time, so the
 * hot paths keep plain counter increments. Counters are rebuilt from the source's totals on each scrape (reset,
 * then set to the current values). While `read()` gives undefined (a source not attached yet), counters are
 * empty and gauges 0.
 */
export function totalsMetrics<S>(registry: Registry, namePrefix: string, read: () => S | undefined) {
  return {
    counter<L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (stats: S, set: SetTotal<L>) => void,
    ): Counter<L> {
      return new Counter({
        name: `${namePrefix}${name}`,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          const stats = read();
          if (stats !== undefined) fill(stats, (labels, value) => this.inc(labels, value));
        },
      });
    },
    gauge(name: string, help: string, value: (stats: S) => number): Gauge {
      return new Gauge({
        name: `${namePrefix}${name}`,
        help,
        registers: [registry],
        collect() {
          const stats = read();
          this.set(stats === undefined ? 0 : value(stats));
        },
      });
    },
  };
}
