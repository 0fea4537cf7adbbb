// Host access: may a client at this address use this listener, and log in as this user?
//
// - A listener's `allowedCidrs` is checked at accept time. Left out, every address may connect;
//   an empty list lets nobody in (fail closed: an empty allow-list allows nothing).
// - A user's `hosts` list (SwiftMQ's host access list) is checked after authentication. Empty or
//   left out, every host may log in as the user, as in SwiftMQ.
//
// Matchers are compiled once per list and cached by the list's identity: a snapshot's arrays
// live as long as the snapshot, so the cache holds one matcher per list in force and lets go of
// the old ones with the old snapshot (WeakMap). Listener lists are compiled when the broker
// starts (the constructor), so a bad entry stops the start with BWK_ERR_CONFIG_INVALID naming the
// listener; the configuration schema already refuses one (src/config/broker.ts). A user's list
// that does not compile (a bad entry that got past the compiler) matches nothing. Node reports
// IPv4 clients of a dual-stack socket as `::ffff:10.1.2.3`; the matcher treats that as 10.1.2.3.
import { BulwarkError, compileHostMatcher, type HostMatcher } from '../../lib/index.ts';

export const HostReason = {
  HostNotAllowedByListener: 'HostNotAllowedByListener',
  HostNotAllowedForUser: 'HostNotAllowedForUser',
} as const;
export type HostReason = (typeof HostReason)[keyof typeof HostReason];

const OK: { ok: true } = { ok: true };
const nothing: HostMatcher = () => false;

/** A listener as HostAccess needs it: its name (for errors) and its allow-list. */
export interface ListenerHosts {
  name: string;
  allowedCidrs?: readonly string[] | undefined;
}

export class HostAccess {
  readonly #matchers = new WeakMap<readonly string[], HostMatcher>();

  /** Compiles every listener's allowedCidrs now; throws BWK_ERR_CONFIG_INVALID naming the listener and the entry that is not an address or CIDR block. */
  constructor(listeners: readonly ListenerHosts[] = []) {
    listeners.forEach((l) => {
      if (!l.allowedCidrs) return;
      try {
        this.#matchers.set(l.allowedCidrs, compileHostMatcher(l.allowedCidrs));
      } catch (err) {
        throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `listener ${l.name}: allowedCidrs: ${(err as Error).message}` }, { cause: err });
      }
    });
  }

  /** At accept time. `allowedCidrs` undefined: any address. `address` undefined (socket already gone): refused. */
  admitListener(allowedCidrs: readonly string[] | undefined, address: string | undefined): { ok: true } | { ok: false; reason: typeof HostReason.HostNotAllowedByListener } {
    if (allowedCidrs === undefined && address !== undefined) return OK;
    return address !== undefined && this.#matcher(allowedCidrs!)(address) ? OK : { ok: false, reason: HostReason.HostNotAllowedByListener };
  }

  /** After authentication. `hosts` empty or undefined: any host. */
  admitUser(hosts: readonly string[] | undefined, address: string | undefined): { ok: true } | { ok: false; reason: typeof HostReason.HostNotAllowedForUser } {
    if ((hosts === undefined || hosts.length === 0) && address !== undefined) return OK;
    return address !== undefined && this.#matcher(hosts!)(address) ? OK : { ok: false, reason: HostReason.HostNotAllowedForUser };
  }

  #matcher(list: readonly string[]): HostMatcher {
    let m = this.#matchers.get(list);
    if (!m) {
      try {
        m = compileHostMatcher(list);
      } catch {
        m = nothing;
      }
      this.#matchers.set(list, m);
    }
    return m;
  }
}
