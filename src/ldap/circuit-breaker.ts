import type { DirectoryServer } from "./connection.ts";

/**
 * A directory server that does not answer is not asked again at every sign-in: after FAILURES_TO_OPEN consecutive
 * timeouts or refused connections it is marked down for OPEN_SECONDS, and while it is down sign-ins skip it at once
 * (the next server in order is tried; with none left, "The directory (LDAP) is not answering"). Then one sign-in
 * tries it again: an answer of any kind (even a wrong password) marks it up, another failure keeps it down for
 * OPEN_SECONDS more. "Test LDAP config" never looks here: it always tries for real.
 *
 * The state is this process's own (each instance of Gatehouse learns for itself), kept by server id and address,
 * so that changing a server's address starts it afresh.
 */
export const BREAKER_POLICY = { failuresToOpen: 2, openSeconds: 30 } as const;

/** A server going down or coming back: each is one audit event (services/sign-in.ts). */
export interface BreakerChange {
  serverId: number;
  url: string;
  to: "down" | "up";
  /** For "down": the last failure, in the library's words. */
  detail?: string;
}

interface ServerState {
  failures: number;
  /** While set and in the future, the server is skipped; once past, one trial is let through. */
  downUntil: number | null;
  trialInFlight: boolean;
}

export class DirectoryBreaker {
  private readonly servers = new Map<string, ServerState>();

  constructor(private readonly now: () => number = Date.now) {}

  private stateOf(server: Pick<DirectoryServer, "id" | "url">): ServerState {
    const key = `${server.id} ${server.url}`;
    let state = this.servers.get(key);
    if (!state) {
      state = { failures: 0, downUntil: null, trialInFlight: false };
      this.servers.set(key, state);
    }
    return state;
  }

  /** Whether a sign-in may ask this server now; when it is down, until when (and no question is sent). */
  admit(server: Pick<DirectoryServer, "id" | "url">): { ask: true } | { ask: false; downUntil: Date } {
    const state = this.stateOf(server);
    if (state.downUntil === null) return { ask: true };
    if (state.downUntil <= this.now() && !state.trialInFlight) {
      state.trialInFlight = true;
      return { ask: true };
    }
    return { ask: false, downUntil: new Date(Math.max(state.downUntil, this.now())) };
  }

  /** The server answered (whatever the answer): it is up. A change when it was down. */
  answered(server: Pick<DirectoryServer, "id" | "url">): BreakerChange | undefined {
    const state = this.stateOf(server);
    const wasDown = state.downUntil !== null;
    state.failures = 0;
    state.downUntil = null;
    state.trialInFlight = false;
    return wasDown ? { serverId: server.id, url: server.url, to: "up" } : undefined;
  }

  /**
   * The server did not answer. A timeout or a refused connection counts towards marking it down (a change when it
   * goes down now); other faults (TLS, a refused service account) are configuration, shown as they are, not counted.
   */
  failed(server: Pick<DirectoryServer, "id" | "url">, reason: string, detail: string): BreakerChange | undefined {
    const state = this.stateOf(server);
    if (reason !== "timeout" && reason !== "connection") {
      state.trialInFlight = false;
      return undefined;
    }
    const wasDown = state.downUntil !== null;
    state.failures += 1;
    state.trialInFlight = false;
    if (!wasDown && state.failures < BREAKER_POLICY.failuresToOpen) return undefined;
    state.downUntil = this.now() + BREAKER_POLICY.openSeconds * 1000;
    return wasDown ? undefined : { serverId: server.id, url: server.url, to: "down", detail };
  }

  /** Forgets every server (tests start each case afresh). */
  reset(): void {
    this.servers.clear();
  }
}

/** This process's breaker, shared by every sign-in and password check. */
export const directoryBreaker = new DirectoryBreaker();
