// tokens.js: one login's token pair, kept in localStorage and renewed by one tab at a time.
//
// A refresh token works once (docs/protocol.md §1): a second use ends the whole session. Tabs of
// one origin share the pair, so they must not each refresh it. `refresh(spent)` therefore runs
// under a cross-tab lock, and inside it looks again: when the stored refresh token is no longer
// the one the caller holds, another tab already refreshed and its pair is simply returned.
// The lock is the Web Locks API where the page has it (secure contexts), else a short lease in
// localStorage (write, wait, read back: the last writer wins and the others wait for it).

import { AgentwireError, newId, refresh as refreshPair } from "./agentwire.js";

const LEASE_MS = 10000; // longer than a refresh takes; a tab closed mid-refresh frees it then
const SETTLE_MS = 40; // how long racing writers get before the lease's owner is read back
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class TokenStore {
  /**
   * @param {object} o
   * @param {string} o.authUrl    the auth service, for /auth/refresh
   * @param {Storage} [o.storage] shared by the tabs (default localStorage)
   * @param {string} [o.key]      where the pair is kept
   * @param {Function} [o.refresh] (authUrl, refreshToken) → token pair; tests stub it
   */
  constructor({ authUrl, storage = globalThis.localStorage, key = "agentwire.session",
    refresh = refreshPair, locks = globalThis.navigator?.locks } = {}) {
    Object.assign(this, { authUrl, storage, key, _refresh: refresh, _locks: locks });
  }

  /** The stored tokens `{accessToken, refreshToken, expiresAt, lifetimeMs, ...}`, or null
   * when there are none or the refresh token has run out too. */
  get() {
    const value = readJson(this.storage, this.key);
    return value && value.refreshExpiresAt > Date.now() ? value : null;
  }

  /** Keep a token pair from login or refresh; `extra` (e.g. the email) is kept alongside. */
  save(pair, extra = {}) {
    const now = Date.now();
    const value = { ...(readJson(this.storage, this.key) || {}), ...extra,
      accessToken: pair.access_token, refreshToken: pair.refresh_token,
      lifetimeMs: pair.expires_in * 1000, expiresAt: now + pair.expires_in * 1000,
      refreshExpiresAt: now + pair.refresh_expires_in * 1000 };
    this.storage.setItem(this.key, JSON.stringify(value));
    return value;
  }

  clear() { this.storage.removeItem(this.key); }

  /** The tokens after `spent` (the refresh token the caller last saw), refreshing only if no
   * other tab has already. Throws AgentwireError when the session is over. */
  refresh(spent) {
    return this._exclusive(async () => {
      const current = this.get();
      if (!current) throw new AgentwireError("unauthorized", "signed out");
      if (current.refreshToken !== spent) return current; // another tab got there first
      return this.save(await this._refresh(this.authUrl, spent));
    });
  }

  _exclusive(fn) {
    if (this._locks) return this._locks.request(this.key + ".refresh", fn);
    return this._leased(fn);
  }

  async _leased(fn) {
    const lockKey = this.key + ".lock";
    const me = newId();
    for (;;) {
      const held = readJson(this.storage, lockKey);
      if (!held || held.until < Date.now()) {
        this.storage.setItem(lockKey, JSON.stringify({ owner: me, until: Date.now() + LEASE_MS }));
        await sleep(SETTLE_MS);
        if (readJson(this.storage, lockKey)?.owner === me) break;
      } else {
        await sleep(SETTLE_MS + Math.random() * SETTLE_MS);
      }
    }
    try {
      return await fn();
    } finally {
      if (readJson(this.storage, lockKey)?.owner === me) this.storage.removeItem(lockKey);
    }
  }
}

function readJson(storage, key) {
  try { return JSON.parse(storage.getItem(key)); } catch { return null; }
}
