// Signing in: the form, the auth service's address, and the session kept in localStorage
// (shared by the tabs of this origin, so a second tab opens signed in, and renewed by one tab
// for all: see tokens.js).

import { AgentwireError, login, logout, register } from "./agentwire.js";
import { TokenStore } from "./tokens.js";

export const SESSION_KEY = "agentwire.session";
const AUTH_URL_KEY = "agentwire.authUrl";
const $ = (id) => document.getElementById(id);

/** http://<this host>:8083, unless ?auth=<url> said otherwise (then remembered). */
export function authUrl() {
  const given = new URLSearchParams(location.search).get("auth");
  if (given) localStorage.setItem(AUTH_URL_KEY, given);
  return given || localStorage.getItem(AUTH_URL_KEY)
    || `${location.protocol}//${location.hostname}:8083`;
}

let store = null;
/** The session's tokens (one store per page; every tab's store reads the same localStorage). */
export function tokenStore() {
  store ??= new TokenStore({ authUrl: authUrl(), key: SESSION_KEY });
  return store;
}

/** The stored session `{email, accessToken, refreshToken, ...}`, unless it can no longer be
 * refreshed. */
export function loadSession() {
  return tokenStore().get();
}

export function forgetSession() {
  tokenStore().clear();
}

/** End the session at the auth service too, so its refresh token is worthless and every socket
 * of it (other tabs' too) closes with 4403. Best effort: the local session is forgotten anyway. */
export async function endSession() {
  const session = loadSession();
  forgetSession();
  if (session) await logout(authUrl(), session.refreshToken).catch(() => {});
}

export function showSignIn(message = "") {
  $("chat-view").hidden = true;
  $("auth-view").hidden = false;
  $("auth-url").textContent = authUrl();
  $("auth-error").textContent = message;
  $("email").focus();
}

/** Wire the form: "Log in" logs in, "Sign up" registers first; then `onSignedIn(session)`. */
export function initSignIn(onSignedIn) {
  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("email").value.trim();
    const password = $("password").value;
    const action = event.submitter ? event.submitter.value : "login";
    const buttons = event.currentTarget.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    $("auth-error").textContent = action === "register" ? "Creating your account…" : "Logging in…";
    try {
      if (action === "register") await register(authUrl(), email, password);
      const session = tokenStore().save(await login(authUrl(), email, password), { email });
      $("password").value = "";
      onSignedIn(session);
    } catch (err) {
      $("auth-error").textContent = err instanceof AgentwireError ? err.message
        : `Cannot reach the auth service at ${authUrl()} (${err.message}).`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}
