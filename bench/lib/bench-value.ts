/** The value every cache bench stores and reads: an analytics-like JSON object of about 1 KB. */
export const BENCH_VALUE = {
  guildId: "1180000000000000001",
  type: "ghosts",
  since: "2026-11-15T00:00:00.000Z",
  generatedAt: "2026-11-22T10:00:00.000Z",
  users: Array.from({ length: 8 }, (_, index) => ({
    userId: `11800000000000${String(1000 + index)}`,
    username: `member-${index}`,
    typingCount: 40 - index * 3,
    messageCount: index,
    ghostScore: Math.round(((40 - index * 3) / (index + 1)) * 100) / 100,
  })),
};

/** The bench value serialized, as the limit reads it from Redis. */
export const BENCH_VALUE_JSON = JSON.stringify(BENCH_VALUE);
