import { createPrismaClient } from "../../backend/src/db/prisma-client.ts";
import { createAnalyticsService } from "../../backend/src/analytics/analytics-service.ts";
import { ANALYTICS_TYPES } from "../../backend/src/analytics/analytics-catalog.ts";
const prisma = createPrismaClient({ url: "postgresql://postgres@127.0.0.1:5432/spywatcher_bench_d2" });
const svc = createAnalyticsService({ prisma });
const now = new Date();
const q = { guildId: "900000000000000001", since: new Date(now.getTime() - 7 * 86400000), until: now, limit: 100 };
for (const t of ANALYTICS_TYPES) {
  const times: number[] = [];
  let r: any;
  for (let i = 0; i < 4; i++) { const s = performance.now(); r = await svc.compute(t, q); times.push(performance.now() - s); }
  console.log(t, times.map((x) => x.toFixed(0)).join(" "), "total", r.total, "flagged", r.flaggedTotal, String(JSON.stringify(r.items[0])).slice(0, 300));
}
await prisma.$disconnect();
