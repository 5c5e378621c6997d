// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const time of document.querySelectorAll("time[datetime]")) {
    const date = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) {
      time.title = date.toISOString();
      time.textContent = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  }
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
});
