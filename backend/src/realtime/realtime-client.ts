import type { LiveCountersMessage } from "../activity/live-counters-channel.ts";
import { WebSocket, type RawData } from "ws";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { AuthRateLimitedError } from "../errors.ts";
import { canAccessGuild, isScopeReduced, type Principal } from "../auth/principal.ts";
import type { NotificationMessage } from "../pubsub/notification.ts";
import type { SessionRevocationReason } from "../pubsub/session-revoked.ts";
import type { Logger } from "../logging/logger.ts";
import type { AnalyticsUpdate } from "../pubsub/analytics-update.ts";
import type { GuildSubscriptions } from "./guild-subscriptions.ts";
import type { RealtimeOptions } from "./realtime-options.ts";
import {
  CLOSE_CODES,
  parseClientFrame,
  type ClientMessage,
  type RealtimeErrorCode,
  type ServerMessage,
} from "./realtime-protocol.ts";
import type { RealtimeCounters } from "./realtime-stats.ts";

/** What a socket needs from the key service: the same check the analytics routes use. */
export type KeyAuthenticator = Authenticator;

/** Frames a socket may send while its `auth` message is being checked; more get an E_LIMIT error frame. */
const MAX_PENDING_FRAMES = 32;

/** What one socket needs. */
export interface RealtimeClientDependencies {
  socket: WebSocket;
  auth: KeyAuthenticator;
  subscriptions: GuildSubscriptions<RealtimeClient>;
  options: RealtimeOptions;
  counters: RealtimeCounters;
  logger: Logger;
  /** The client's address, for the failed-key limit of first-message auth. */
  clientIp?: string | undefined;
  /** The principal and key from the upgrade's Authorization header, when there was one. */
  authenticated?: { principal: Principal; key: string } | undefined;
  /** Called once when a socket opened without an Authorization header has authenticated with its `auth` message. */
  onAuthenticated?: (client: RealtimeClient) => void;
  /** Called once when the socket has closed. */
  onClosed: (client: RealtimeClient) => void;
}

/**
 * One `/ws` socket: authenticates (header at upgrade or first `auth` message), handles subscribe/unsubscribe, and
 * receives pushes and answers with a bound on unsent bytes; too many bad frames in a row close it. The key is held
 * only to re-check it (revocation), never logged.
 */
export class RealtimeClient {
  private principal: Principal | undefined;
  private key: string | undefined;
  private readonly guilds = new Set<string>();
  private alive = true;
  private pendingFrames = 0;
  private consecutiveBadFrames = 0;
  private queue: Promise<void> = Promise.resolve();
  private authTimer: NodeJS.Timeout | undefined;
  private terminateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: RealtimeClientDependencies) {
    const { socket } = deps;
    if (deps.authenticated) {
      this.principal = deps.authenticated.principal;
      this.key = deps.authenticated.key;
    } else {
      this.authTimer = setTimeout(() => {
        deps.counters.authTimeouts += 1;
        this.closeWith(CLOSE_CODES.authTimeout, `no auth message within ${deps.options.authTimeoutMs} ms`);
      }, deps.options.authTimeoutMs);
    }
    socket.on("pong", () => (this.alive = true));
    socket.on("message", (data, isBinary) => this.receive(data, isBinary));
    // ws emits "close" after every "error"; the error itself says nothing the client needs.
    socket.on("error", (error) => deps.logger.debug({ err: error.message }, "websocket error"));
    socket.once("close", () => this.cleanUp());
  }

  /** Guilds this socket is subscribed to. */
  get subscribedGuilds(): ReadonlySet<string> {
    return this.guilds;
  }

  /** Calls `listener` once the socket has closed (at once if it already has). */
  onceClosed(listener: () => void): void {
    if (this.deps.socket.readyState === WebSocket.CLOSED) listener();
    else this.deps.socket.once("close", listener);
  }

  /** Sends an update unless the socket holds more than `maxBufferedBytes` unsent, in which case it is closed. */
  push(update: AnalyticsUpdate, resync = false): void {
    if (this.send({ type: "analytics:update", ...update, ...(resync ? { resync: true as const } : {}) }))
      this.deps.counters.pushed += 1;
  }

  /** Sends a notification if it is meant for this socket's user (or, with `to.admins`, for admin sockets); true if sent. */
  notifyIfRecipient(message: NotificationMessage): boolean {
    const principal = this.principal;
    if (!principal) return false;
    const recipient = "admins" in message.to ? principal.scope === "admin" : principal.userId === message.to.userId;
    return recipient && this.send({ type: "notification", notification: message.notification, at: message.at });
  }

  /** Sends a guild's live counters (`activity:live`), under the same unsent-bytes bound as updates. */
  pushLive(counters: LiveCountersMessage): void {
    this.send({ type: "activity:live", ...counters });
  }

  /** One heartbeat: terminates the socket if the last ping went unanswered, else pings and re-checks the key. */
  heartbeat(): void {
    const { socket, counters } = this.deps;
    if (socket.readyState !== WebSocket.OPEN) {
      // A socket stuck in its closing handshake (e.g. a slow consumer that never reads the close frame).
      if (socket.readyState === WebSocket.CLOSING) socket.terminate();
      return;
    }
    if (!this.alive) {
      counters.heartbeatTerminations += 1;
      socket.terminate();
      return;
    }
    this.alive = false;
    socket.ping();
    void this.recheckKey();
  }

  /** Closes the socket (4401) if it authenticated with the API key `keyId`, which was just revoked; true if it did. */
  closeIfKeyRevoked(keyId: string): boolean {
    if (this.principal?.keyId !== keyId) return false;
    this.deps.counters.authFailures += 1;
    this.closeWith(CLOSE_CODES.unauthorized, "the API key was revoked");
    return true;
  }

  /**
   * Closes the socket if it authenticated with one of these sessions: 4401 when they were revoked, 4403 when their
   * guild scope shrank (its subscriptions end at once, so no push of a removed guild follows); true if it did.
   */
  closeIfSessionRevoked(sessionIds: ReadonlySet<string>, reason: SessionRevocationReason = "revoked"): boolean {
    const sessionId = this.principal?.sessionId;
    // A socket already closing (the revoking instance hears its own broadcast too) is not counted twice.
    if (sessionId === undefined || !sessionIds.has(sessionId) || this.deps.socket.readyState !== WebSocket.OPEN)
      return false;
    if (reason === "scope-reduced") this.closeScopeReduced();
    else {
      this.deps.counters.authFailures += 1;
      this.closeWith(CLOSE_CODES.unauthorized, "the session was revoked");
    }
    return true;
  }

  /** Closes the socket with `code` and `reason`; terminates it if the closing handshake has not ended in `closeTimeoutMs`. */
  closeWith(code: number, reason: string): void {
    const { socket, options } = this.deps;
    this.leaveAll();
    if (socket.readyState === WebSocket.CLOSED) return;
    socket.close(code, reason);
    this.terminateTimer ??= setTimeout(() => socket.terminate(), options.closeTimeoutMs);
    this.terminateTimer.unref();
  }

  private receive(data: RawData, isBinary: boolean): void {
    // Frames that arrive after the server started closing get no answer (and cost no parsing).
    if (this.deps.socket.readyState !== WebSocket.OPEN) return;
    const parsed = parseClientFrame(data, isBinary);
    if (!parsed.ok) {
      // An auth message with a malformed key (empty, too long) can never succeed: refuse the socket now, as an
      // unknown key is, instead of leaving it open until the auth timeout.
      if (parsed.auth && !this.principal && this.pendingFrames === 0) {
        this.deps.counters.authFailures += 1;
        this.closeWith(CLOSE_CODES.unauthorized, `bad auth message: ${parsed.error.message}`.slice(0, 120));
        return;
      }
      this.sendError(parsed.error.code, parsed.error.message, true);
      return;
    }
    // A frame that parses ends a run of bad frames, whether or not it is then refused (forbidden guild, limit).
    this.consecutiveBadFrames = 0;
    if (parsed.message.type === "auth") {
      // The client did authenticate in time; the key check has its own bound (the key service's lookup timeout),
      // so a slow lookup must not close with 4008 a socket whose auth message came at once.
      clearTimeout(this.authTimer);
    } else if (this.pendingFrames === 0) {
      // No key check in flight (a header-authenticated socket, or after auth): handled at once, no queue, no limit.
      this.handle(parsed.message).catch((error: unknown) =>
        this.deps.logger.error({ err: error }, "websocket message handler failed"),
      );
      return;
    }
    if (this.pendingFrames >= MAX_PENDING_FRAMES) {
      this.sendError("E_LIMIT", `at most ${MAX_PENDING_FRAMES} messages may wait while the key is checked`);
      return;
    }
    // Frames are handled in order: a subscribe sent right after auth waits for the key check.
    this.pendingFrames += 1;
    this.queue = this.queue
      .then(() => this.handle(parsed.message))
      .catch((error: unknown) => this.deps.logger.error({ err: error }, "websocket message handler failed"))
      .finally(() => (this.pendingFrames -= 1));
  }

  private async handle(message: ClientMessage): Promise<void> {
    // Frames queued behind a key check may run after the socket closed: a late subscribe must not leak an entry.
    if (this.deps.socket.readyState !== WebSocket.OPEN) return;
    if (message.type === "auth") return this.authenticate(message.key);
    const principal = this.principal;
    if (!principal) {
      this.sendError("E_UNAUTHORIZED", 'send {"type":"auth","key":"<api key>"} first');
      return;
    }
    const { guildId } = message;
    if (message.type === "unsubscribe") {
      this.guilds.delete(guildId);
      this.deps.subscriptions.remove(guildId, this);
      this.reply({ type: "unsubscribed", guildId });
      return;
    }
    if (!canAccessGuild(principal, guildId)) {
      this.sendError("E_FORBIDDEN", `this API key is not scoped to guild ${guildId}`);
      return;
    }
    if (!this.guilds.has(guildId) && this.guilds.size >= this.deps.options.maxSubscriptionsPerSocket) {
      this.sendError("E_LIMIT", `at most ${this.deps.options.maxSubscriptionsPerSocket} subscriptions per socket`);
      return;
    }
    this.guilds.add(guildId);
    this.deps.subscriptions.add(guildId, this);
    this.reply({ type: "subscribed", guildId });
  }

  private async authenticate(key: string): Promise<void> {
    if (this.principal) {
      this.sendError("E_BAD_MESSAGE", "already authenticated");
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = await this.deps.auth.authenticate(key, { clientIp: this.deps.clientIp });
    } catch (error) {
      if (error instanceof AuthRateLimitedError) {
        this.closeWith(
          CLOSE_CODES.tryAgainLater,
          `too many failed authentications from this address; retry in ${error.retryAfterSeconds} s`,
        );
        return;
      }
      this.deps.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "websocket auth: key could not be checked",
      );
      this.closeWith(CLOSE_CODES.tryAgainLater, "the API key cannot be checked now; try again later");
      return;
    }
    if (!principal) {
      this.deps.counters.authFailures += 1;
      this.closeWith(CLOSE_CODES.unauthorized, "the API key is unknown or revoked");
      return;
    }
    clearTimeout(this.authTimer);
    this.principal = principal;
    this.key = key;
    this.deps.onAuthenticated?.(this);
    this.reply(
      principal.scope === "admin"
        ? { type: "authenticated", scope: "admin" }
        : { type: "authenticated", scope: "guild", guildIds: principal.guildIds },
    );
  }

  private async recheckKey(): Promise<void> {
    if (!this.key) return;
    let current: Principal | undefined;
    try {
      current = await this.deps.auth.authenticate(this.key);
    } catch {
      // The key service could not tell (PostgreSQL down, no recent verification): keep the socket; the next beat asks again.
      return;
    }
    if (current) {
      // A scope reduction whose broadcast was lost is caught here, within one heartbeat.
      if (this.principal && this.deps.socket.readyState === WebSocket.OPEN && isScopeReduced(this.principal, current))
        this.closeScopeReduced();
      return;
    }
    this.deps.counters.authFailures += 1;
    this.closeWith(
      CLOSE_CODES.unauthorized,
      this.principal?.sessionId ? "the session was revoked" : "the API key was revoked",
    );
  }

  private closeScopeReduced(): void {
    this.deps.counters.scopeReducedCloses += 1;
    this.closeWith(CLOSE_CODES.scopeReduced, "the session's guild scope was reduced: reconnect");
  }

  /** Answers a frame that was handled. */
  private reply(message: ServerMessage): void {
    this.send(message);
  }

  /**
   * Answers a frame with an error frame. A frame that could not be parsed (`malformed`) extends the run of bad
   * frames: `maxConsecutiveBadFrames` in a row close the socket with 1008 instead; any frame that parses ends it.
   */
  private sendError(code: RealtimeErrorCode, message: string, malformed = false): void {
    const { counters, options } = this.deps;
    if (malformed) this.consecutiveBadFrames += 1;
    if (malformed && this.consecutiveBadFrames >= options.maxConsecutiveBadFrames) {
      // A client that only sends frames the server refuses is broken or hostile: answering each would let it make
      // the server write (and buffer) many bytes for every byte it sends.
      counters.badFrameCloses += 1;
      this.closeWith(CLOSE_CODES.policyViolation, `${options.maxConsecutiveBadFrames} bad frames in a row`);
      return;
    }
    if (this.send({ type: "error", error: { code, message } })) counters.errorFrames += 1;
  }

  /**
   * Sends a frame unless the socket holds more than `maxBufferedBytes` unsent, in which case it is closed with 4429
   * (answers count as well as pushes: a client that never reads must not grow the buffer by sending); true if sent.
   */
  private send(message: ServerMessage): boolean {
    const { socket, options, counters } = this.deps;
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      // A client that does not read would grow this buffer without end; closing it tells it to reconnect and refetch,
      // where silently skipping pushes would leave its dashboard stale without it knowing.
      counters.slowConsumerCloses += 1;
      this.deps.logger.warn(
        { bufferedBytes: socket.bufferedAmount, keyId: this.principal?.keyId },
        "websocket closed as slow consumer",
      );
      this.closeWith(CLOSE_CODES.slowConsumer, `slow consumer: over ${options.maxBufferedBytes} bytes unsent`);
      return false;
    }
    socket.send(JSON.stringify(message));
    return true;
  }

  private leaveAll(): void {
    for (const guildId of this.guilds) this.deps.subscriptions.remove(guildId, this);
    this.guilds.clear();
  }

  private cleanUp(): void {
    clearTimeout(this.authTimer);
    clearTimeout(this.terminateTimer);
    this.leaveAll();
    this.key = undefined;
    this.deps.onClosed(this);
  }
}
