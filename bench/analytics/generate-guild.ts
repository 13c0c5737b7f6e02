import type pg from "pg";

/** Size of a generated benchmark guild. */
export interface GeneratedGuildSize {
  /** Message events (default 1,000,000). */
  messages: number;
  /** Typing events (default 400,000). */
  typing: number;
  /** Presence events (default 200,000). */
  presences: number;
  /** Role change events (default 20,000). */
  roleChanges: number;
  /** Distinct users (default 10,000). */
  users: number;
  /** Distinct channels (default 50). */
  channels: number;
  /** Events are spread evenly over this many days before `now` (default 14: two 7-day windows). */
  days: number;
}

/** The benchmark guild: 1,000,000 message events, 10,000 users, 50 channels. */
export const DEFAULT_GUILD_SIZE: GeneratedGuildSize = {
  messages: 1_000_000,
  typing: 400_000,
  presences: 200_000,
  roleChanges: 20_000,
  users: 10_000,
  channels: 50,
  days: 14,
};

/**
 * Fills one guild with synthetic activity using INSERT ... SELECT generate_series (no row crosses the wire).
 * Ids are numeric snowflakes like Discord's: users 800000000000000000 + n (shared between generated guilds, as
 * people are in several guilds), channels the guild id + 1000 + n (a guild's own).
 * Users are skewed (user i is active with a weight falling with i) so rankings are not all ties. Rows are inserted
 * in time order, as a live bot writes them, so one day's events sit together on disk as they would in production.
 */
export async function generateGuild(
  client: pg.Client,
  guildId: string,
  size: GeneratedGuildSize,
  now: Date,
): Promise<void> {
  const base = [guildId, size.users, size.days, now.toISOString()];
  // power(random(), 2) skews towards low user numbers: a few very active users, a long quiet tail. Only the
  // first 70% of users ever speak or type; everyone has presence, so the other 30% are lurkers.
  const skewedUser = `(800000000000000000 + floor(power(random(), 2) * $2 * 0.7)::bigint)::text`;
  const anyUser = `(800000000000000000 + floor(random() * $2)::bigint)::text`;
  const channel = `($1::text::bigint + 1000 + floor(random() * $5)::bigint)::text`;
  const at = `($4::timestamptz - random() * ($3 || ' days')::interval)`;
  await client.query(
    `INSERT INTO message_events (message_id, guild_id, channel_id, user_id, content_length, created_at)
     SELECT $1 || '-m' || g, $1, ${channel}, ${skewedUser}, (random() * 200)::int, ${at} AS at
       FROM generate_series(1, $6::int) AS g ORDER BY at`,
    [...base, size.channels, size.messages],
  );
  await client.query(
    `INSERT INTO typing_events (guild_id, channel_id, user_id, started_at)
     SELECT $1, ${channel}, ${skewedUser}, ${at} AS at FROM generate_series(1, $6::int) AS g ORDER BY at`,
    [...base, size.channels, size.typing],
  );
  await client.query(
    `INSERT INTO presence_events (guild_id, user_id, status, platforms, created_at)
     SELECT $1, ${anyUser}, 'online',
            CASE floor(random() * 4)::int WHEN 0 THEN ARRAY['desktop'] WHEN 1 THEN ARRAY['mobile']
                 WHEN 2 THEN ARRAY['web'] ELSE ARRAY['desktop', 'mobile'] END,
            ${at} AS at
       FROM generate_series(1, $5::int) AS g ORDER BY at`,
    [...base, size.presences],
  );
  await client.query(
    `INSERT INTO role_change_events (guild_id, user_id, role_id, role_name, action, created_at)
     SELECT $1, ${anyUser}, 'r' || (g % 20), 'role ' || (g % 20),
            CASE WHEN random() < 0.5 THEN 'added' ELSE 'removed' END, ${at} AS at
       FROM generate_series(1, $5::int) AS g ORDER BY at`,
    [...base, size.roleChanges],
  );
}
