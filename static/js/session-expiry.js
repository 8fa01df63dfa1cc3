// The warning before the idle timeout (templates/accounts/session_warning.html). The server decides when a
// session ends (accounts/sessions/middleware.py); this page only warns ahead, offers to keep the session,
// and goes to the sign-in page once it has ended. Another tab may keep the session alive meanwhile, so
// the server is asked how long is left (without that asking counting as activity) before warning and
// before leaving.
(() => {
  "use strict";
  const banner = document.getElementById("session-warning");
  if (!banner) return;
  const text = banner.querySelector(".session-warning-text");
  const form = banner.querySelector("form");
  const warningMs = Number(banner.dataset.warningSeconds) * 1000;
  const keepaliveUrl = banner.dataset.keepaliveUrl;
  let idleEnd = 0;
  let lifetimeEnd = 0;
  let timer = null;

  function learn(answer) {
    const now = Date.now();
    idleEnd = now + answer.idle_seconds * 1000;
    lifetimeEnd = now + answer.lifetime_seconds * 1000;
  }

  function later(ms, step) {
    clearTimeout(timer);
    timer = setTimeout(step, Math.max(0, ms));
  }

  function plan() {
    const untilWarning = Math.min(idleEnd, lifetimeEnd) - warningMs - Date.now();
    if (untilWarning > 0) {
      banner.hidden = true;
      later(untilWarning, recheck);
    } else {
      tick();
    }
  }

  function spell(ms) {
    if (ms >= 60000) {
      const minutes = Math.ceil(ms / 60000);
      return minutes + (minutes === 1 ? " minute" : " minutes");
    }
    const seconds = Math.ceil(ms / 1000);
    return seconds + (seconds === 1 ? " second" : " seconds");
  }

  function tick() {
    const now = Date.now();
    const left = Math.min(idleEnd, lifetimeEnd) - now;
    if (left <= 0) {
      text.textContent = "Signing out…";
      later(1000, recheck);
      return;
    }
    const byLifetime = lifetimeEnd <= idleEnd;
    text.textContent = byLifetime
      ? "Your session ends in " + spell(left) + ": it has lasted as long as a session may. Save your work, then sign in again."
      : "You will be signed out in " + spell(left) + " for inactivity.";
    form.hidden = byLifetime;
    banner.hidden = false;
    later(Math.min(1000, left), tick);
  }

  // The session's time left: null once it has ended (401), undefined when the server cannot be reached.
  async function ask(method) {
    const headers = { Accept: "application/json" };
    if (method === "POST") headers["X-CSRFToken"] = form.elements.csrfmiddlewaretoken.value;
    try {
      const response = await fetch(keepaliveUrl, { method, headers, credentials: "same-origin" });
      if (response.status === 401) return null;
      return response.ok ? await response.json() : undefined;
    } catch (error) {
      return undefined;
    }
  }

  function signIn() {
    const next = window.location.pathname + window.location.search;
    window.location.assign(banner.dataset.signInUrl + "?next=" + encodeURIComponent(next));
  }

  async function recheck() {
    const answer = await ask("GET");
    if (answer === null) return signIn();
    if (answer) learn(answer);
    else if (Date.now() >= Math.min(idleEnd, lifetimeEnd)) return signIn();
    plan();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await ask("POST");
    if (answer === null) return signIn();
    if (answer) learn(answer);
    plan();
  });

  learn({ idle_seconds: Number(banner.dataset.idleSeconds), lifetime_seconds: Number(banner.dataset.lifetimeSeconds) });
  plan();
})();
