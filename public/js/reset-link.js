// The reset email links to /login#reset=<code>&username=<name>. The fragment never reaches the server, its logs or
// a Referer; this fills the sign-in form from it and then removes it from the address bar and history.
(() => {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const code = params.get("reset");
  if (!code) return;
  const username = document.getElementById("username");
  const password = document.getElementById("password");
  if (username && params.get("username")) username.value = params.get("username");
  if (password) password.value = code;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  const note = document.getElementById("reset-link-note");
  if (note) note.hidden = false;
  document.querySelector("form[action='/login'] button[type='submit']")?.focus();
})();
