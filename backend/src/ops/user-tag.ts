/**
 * Tag on every cached entry that holds one user's data: `user:<userId>`. Invalidating it (admin route
 * `DELETE /api/admin/monitoring/cache/invalidate?userId=`) makes each such entry a miss. The guild analytics are
 * per guild and do not carry it (a user's change reaches them through the guild's event-driven invalidation).
 */
export function userTag(userId: string): string {
  return `user:${userId}`;
}
