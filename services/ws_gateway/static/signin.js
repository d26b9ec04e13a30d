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

/** An auth error in plain words: the service's codes (docs/protocol.md §1) and, for a refused
 * request, the field it names, never the validator's own text. */
export function describeAuthError(err, action = "login") {
  const code = err?.code;
  const message = String(err?.message || "");
  if (code === "email_taken") return "An account with this email already exists. Log in instead.";
  if (code === "invalid_credentials") return "Wrong email or password.";
  if (code === "rate_limited") {
    const wait = message.match(/try again in (\d+) ?s/i);
    return `Too many failed attempts. Try again${wait ? ` in ${wait[1]} seconds` : " later"}.`;
  }
  if (code === "invalid_request") {
    if (message.includes("$.password")) {
      return /<=|too long/i.test(message) ? "That password is too long (1,024 characters at most)."
        : action === "register" ? "Choose a password of at least 8 characters."
          : "Enter your password.";
    }
    if (message.includes("$.email")) return "Enter a valid email address, like ada@example.com.";
    return "That did not work. Check your email and password.";
  }
  if (code === "internal" || /^http_5/.test(code || "")) {
    return "The sign-in service had a problem. Try again in a moment.";
  }
  return "That did not work. Check your email and password and try again.";
}

/** What is wrong with the form before anything is sent, or "" when nothing is. */
function checkForm(email, password, action) {
  if (!email) return "Enter your email address.";
  if (action === "register" && !/^[^@\s]+@[^@\s]+$/.test(email)) {
    return "Enter a valid email address, like ada@example.com.";
  }
  if (!password) return action === "register" ? "Choose a password of at least 8 characters."
    : "Enter your password.";
  if (action === "register" && password.length < 8) {
    return "Choose a password of at least 8 characters.";
  }
  return "";
}

/** "login" or "register": what Enter does. Choosing "Sign up" once makes it the form's action
 * (its button turns primary), so fixing a field and pressing Enter signs up, not in. */
function setMode(mode) {
  const register = mode === "register";
  $("auth-form").dataset.mode = mode;
  $("signup-button").classList.toggle("primary", register);
  $("login-button").classList.toggle("primary", !register);
  $("password").autocomplete = register ? "new-password" : "current-password";
}

/** Wire the form: "Log in" logs in, "Sign up" registers first; then `onSignedIn(session)`. */
export function initSignIn(onSignedIn) {
  const form = $("auth-form");
  setMode("login");
  for (const field of [$("email"), $("password")]) {
    field.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      event.preventDefault(); // the default would press the first button, "Log in"
      const mode = form.dataset.mode === "register" ? "signup-button" : "login-button";
      form.requestSubmit($(mode));
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("email").value.trim();
    const password = $("password").value;
    const action = event.submitter ? event.submitter.value : form.dataset.mode;
    setMode(action);
    const problem = checkForm(email, password, action);
    if (problem) {
      $("auth-error").textContent = problem;
      (problem.includes("email") ? $("email") : $("password")).focus();
      return;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    $("auth-error").textContent = action === "register" ? "Creating your account…" : "Logging in…";
    try {
      if (action === "register") await register(authUrl(), email, password);
      const session = tokenStore().save(await login(authUrl(), email, password), { email });
      $("password").value = "";
      setMode("login");
      onSignedIn(session);
    } catch (err) {
      $("auth-error").textContent = err instanceof AgentwireError ? describeAuthError(err, action)
        : `Cannot reach the sign-in service at ${authUrl()}. Check your connection and try again.`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}
