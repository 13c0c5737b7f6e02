import type { IngestEvent, IngestEventKind, IngestEventOf } from "../ingest/event-records.ts";

/**
 * The activity metrics: one per kind of stored event, defined once here. The recorder, the rebuild from
 * PostgreSQL, the routes' validation and docs/activity.md's table all read this catalog; a new event kind does not
 * compile until it has its metric.
 */

/** One metric to record: what happened, where, who, how much, when. */
export interface ActivityMetric {
  type: ActivityMetricType;
  guildId: string;
  userId?: string | undefined;
  channelId?: string | undefined;
  /** How much to add (default 1). */
  value?: number;
  timestamp: Date;
}

/** How each event kind becomes a metric. */
interface MetricDefinition<K extends IngestEventKind> {
  /** The metric's name in keys, routes and docs. */
  type: string;
  /** One line for docs/activity.md. */
  description: string;
  /** True when the event makes its user "active" that day (streaks). */
  activeDay: boolean;
  /** The metric of one stored event of this kind. */
  toMetric(event: IngestEventOf<K>): Omit<ActivityMetric, "type">;
}

/** The catalog: event kind -> metric (the compiler refuses a kind without one). */
export const METRIC_OF_KIND = {
  message: {
    type: "messages",
    description: "messages posted (by user and channel)",
    activeDay: true,
    toMetric: (e) => ({ guildId: e.guildId, userId: e.userId, channelId: e.channelId, timestamp: e.createdAt }),
  },
  messageDelete: {
    type: "deletes",
    description: "messages deleted",
    activeDay: false,
    toMetric: (e) => ({
      guildId: e.guildId,
      userId: e.userId ?? undefined,
      channelId: e.channelId,
      timestamp: e.deletedAt,
    }),
  },
  typing: {
    type: "typing",
    description: "typing indicators started (by user and channel)",
    activeDay: true,
    toMetric: (e) => ({ guildId: e.guildId, userId: e.userId, channelId: e.channelId, timestamp: e.startedAt }),
  },
  presence: {
    type: "presence",
    description: "presence changes (status or client platforms)",
    activeDay: false,
    toMetric: (e) => ({ guildId: e.guildId, userId: e.userId, timestamp: e.createdAt }),
  },
  roleChange: {
    type: "roles",
    description: "roles added to or removed from members",
    activeDay: false,
    toMetric: (e) => ({ guildId: e.guildId, userId: e.userId, timestamp: e.createdAt }),
  },
  memberJoin: {
    type: "joins",
    description: "members joining",
    activeDay: false,
    toMetric: (e) => ({ guildId: e.guildId, userId: e.userId, timestamp: e.joinedAt }),
  },
} as const satisfies { [K in IngestEventKind]: MetricDefinition<K> };

/** A metric's name. */
export type ActivityMetricType = (typeof METRIC_OF_KIND)[IngestEventKind]["type"];

/** Every metric name, in catalog order. */
export const ACTIVITY_METRIC_TYPES = Object.values(METRIC_OF_KIND).map(
  (definition) => definition.type,
) as ActivityMetricType[];

/** Metrics that make a user active on their day (streaks). */
export const ACTIVE_DAY_METRICS: ReadonlySet<ActivityMetricType> = new Set(
  Object.values(METRIC_OF_KIND)
    .filter((definition) => definition.activeDay)
    .map((definition) => definition.type),
);

/** True for a known metric name. */
export function isActivityMetricType(value: unknown): value is ActivityMetricType {
  return typeof value === "string" && (ACTIVITY_METRIC_TYPES as string[]).includes(value);
}

/** The metric of one stored event. */
export function metricOfEvent(event: IngestEvent): ActivityMetric {
  const definition = METRIC_OF_KIND[event.kind] as MetricDefinition<typeof event.kind>;
  return { type: definition.type as ActivityMetricType, ...definition.toMetric(event as never) };
}

/** The leaderboards: what each ranks (members are user or channel ids) and which metric feeds it. */
export const LEADERBOARDS = {
  users: { metric: "messages", member: "userId", description: "top users by messages" },
  channels: { metric: "messages", member: "channelId", description: "top channels by messages" },
  typers: { metric: "typing", member: "userId", description: "most active typers (typing indicators)" },
} as const satisfies Record<
  string,
  { metric: ActivityMetricType; member: "userId" | "channelId"; description: string }
>;

/** A leaderboard's name. */
export type LeaderboardName = keyof typeof LEADERBOARDS;

/** Every leaderboard name. */
export const LEADERBOARD_NAMES = Object.keys(LEADERBOARDS) as LeaderboardName[];

/** The windows a leaderboard is kept for: the current UTC day, ISO week and month (and past ones, within retention). */
export const LEADERBOARD_PERIODS = ["day", "week", "month"] as const;

/** One leaderboard period. */
export type LeaderboardPeriod = (typeof LEADERBOARD_PERIODS)[number];
