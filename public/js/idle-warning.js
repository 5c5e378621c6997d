// The idle warning (TrueCommand-style): before the server ends a session for inactivity, say so and offer
// "Stay signed in". Loaded only on signed-in pages when an idle timeout is set (views/partials/head.ejs puts
// the limit on <body data-idle-timeout-seconds>). The server stays the authority: this only warns, keeps the
// session alive on request, and sends the page to sign-in when the time is up.
(() => {
  const WARN_BEFORE_MS = 3 * 60_000;
  const TICK_MS = 1000;
  // The server counts from when it answered; this page a moment later. The margin keeps the page from going
  // to sign-in just before the server would agree that the session expired.
  const MARGIN_MS = 1000;

  function start() {
    const limitSeconds = Number(document.body.dataset.idleTimeoutSeconds);
    const dialog = document.getElementById("idle-warning");
    if (!(limitSeconds > 0) || !dialog || typeof dialog.showModal !== "function") return;
    const form = dialog.querySelector("form");
    const message = document.getElementById("idle-warning-message");
    const limitMs = limitSeconds * 1000;
    // 3 minutes before the end, or halfway for a limit shorter than 6 minutes.
    const warnBeforeMs = Math.min(WARN_BEFORE_MS, limitMs / 2);
    let deadline = Date.now() + limitMs + MARGIN_MS;
    let sending = false;
    let done = false;

    function describe(msLeft) {
      if (msLeft < 60_000) return "You will be signed out in less than a minute because of inactivity.";
      const minutes = Math.round(msLeft / 60_000);
      return `You will be signed out in ${minutes} ${minutes === 1 ? "minute" : "minutes"} because of inactivity.`;
    }

    function expire() {
      done = true;
      // If another tab kept the session alive, sign-in sends the page straight back here.
      const back = window.location.pathname + window.location.search;
      window.location.assign(`/login?expired=1&returnTo=${encodeURIComponent(back)}`);
    }

    function tick() {
      if (done) return;
      const left = deadline - Date.now();
      if (left <= 0) return expire();
      if (left <= warnBeforeMs + MARGIN_MS) {
        const text = describe(left - MARGIN_MS);
        // Changed only when the wording changes, so a screen reader hears it once a minute, not every second.
        if (message.textContent !== text) message.textContent = text;
        if (!dialog.open) dialog.showModal();
      }
    }

    async function keepAlive() {
      if (sending || done) return;
      sending = true;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          redirect: "manual",
        });
        if (response.status !== 204) return expire();
        deadline = Date.now() + limitMs + MARGIN_MS;
        if (dialog.open) dialog.close();
      } catch {
        // Offline for a moment: the warning stays up and the button can be pressed again.
      } finally {
        sending = false;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      keepAlive();
    });
    // Escape closes the warning: someone is there, so that keeps the session too.
    dialog.addEventListener("cancel", () => {
      keepAlive();
    });
    // Timers of a hidden tab are slowed down; check again the moment it is looked at.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") tick();
    });
    setInterval(tick, TICK_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
