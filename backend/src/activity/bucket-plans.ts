import { activityKeys } from "./activity-keys.ts";
import { LEADERBOARD_RETENTION_MS } from "./activity-horizons.ts";
import {
  LEADERBOARD_PERIODS,
  type ActivityMetricType,
  type LeaderboardName,
  type LeaderboardPeriod,
} from "./activity-metrics.ts";
import { CONTAINER_OF, containerExpiresAt, fieldOf, isHashed } from "./counter-slots.ts";
import {
  bucketExpiresAt,
  bucketStart,
  dayStart,
  GRANULARITIES,
  labelOf,
  nextBucketStart,
  type Granularity,
} from "./time-buckets.ts";

/** One bucket holding a minute: where its counter lives, when the bucket ends, when its key expires. */
export interface CounterBucket {
  granularity: Granularity;
  /** End of the bucket (epoch ms). */
  end: number;
  /** The key of the counter (a hash for minutes and hours) of one guild and metric. */
  key(guildId: string, metric: ActivityMetricType): string;
  /** The hash field, or undefined for a string counter. */
  field: string | undefined;
  keyExpiresAt: number;
}

/** One leaderboard period holding a day. */
export interface BoardPeriod {
  period: LeaderboardPeriod;
  end: number;
  key(guildId: string, board: LeaderboardName): string;
  keyExpiresAt: number;
}

/**
 * The buckets holding each minute and the leaderboard periods holding each day, computed once per flush (the events
 * of a flush come from a few minutes) instead of once per metric.
 */
export class BucketPlans {
  private readonly minutes = new Map<number, CounterBucket[]>();
  private readonly days = new Map<number, BoardPeriod[]>();

  /** The minute, hour, day, week and month buckets of the minute starting at `minute`. */
  ofMinute(minute: number): CounterBucket[] {
    let plan = this.minutes.get(minute);
    if (!plan)
      this.minutes.set(
        minute,
        (plan = GRANULARITIES.map((granularity) => counterBucket(granularity, bucketStart(granularity, minute)))),
      );
    return plan;
  }

  /** The day, week and month leaderboards of UTC day number `day`. */
  ofDay(day: number): BoardPeriod[] {
    let plan = this.days.get(day);
    if (!plan)
      this.days.set(
        day,
        (plan = LEADERBOARD_PERIODS.map((period) => boardPeriod(period, bucketStart(period, dayStart(day))))),
      );
    return plan;
  }
}

function counterBucket(granularity: Granularity, start: number): CounterBucket {
  const end = nextBucketStart(granularity, start);
  if (!isHashed(granularity)) {
    const label = labelOf(granularity, start);
    return {
      granularity,
      end,
      key: (guildId, metric) => activityKeys.count(guildId, metric, granularity, label),
      field: undefined,
      keyExpiresAt: bucketExpiresAt(granularity, start),
    };
  }
  const containerStart = bucketStart(CONTAINER_OF[granularity], start);
  const containerLabel = labelOf(CONTAINER_OF[granularity], containerStart);
  return {
    granularity,
    end,
    key: (guildId, metric) => activityKeys.counterHash(guildId, metric, granularity, containerLabel),
    field: fieldOf(granularity, start),
    keyExpiresAt: containerExpiresAt(granularity, containerStart),
  };
}

function boardPeriod(period: LeaderboardPeriod, start: number): BoardPeriod {
  const end = nextBucketStart(period, start);
  const label = labelOf(period, start);
  return {
    period,
    end,
    key: (guildId, board) => activityKeys.leaderboard(guildId, board, period, label),
    keyExpiresAt: end + LEADERBOARD_RETENTION_MS[period],
  };
}
