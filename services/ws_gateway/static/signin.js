// Signing in: the form, the auth service's address, and the session kept in localStorage
// (shared by the tabs of this origin, so a second tab opens signed in).

import { AgentwireError, login, register } from "./agentwire.js";

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

/** The stored session, unless it has expired. */
export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY));
    return session && session.expiresAt > Date.now() ? session : null;
  } catch { return null; }
}

export function forgetSession() {
  localStorage.removeItem(SESSION_KEY);
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
      const token = await login(authUrl(), email, password);
      const session = { token: token.access_token, email,
        expiresAt: Date.now() + token.expires_in * 1000 };
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
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
