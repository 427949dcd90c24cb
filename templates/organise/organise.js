// What works without it works better with it: a check-in at the door keeps the page where it was, and the
// attendance list gets a print button.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  event.preventDefault();
  const body = new URLSearchParams(new FormData(form, event.submitter));
  const response = await fetch(form.action, {method: "POST", body, credentials: "same-origin"}).catch(() => null);
  if (!response || !response.ok) { form.submit(); return; }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const main = page.querySelector("main");
  const kept = window.scrollY;
  if (main) document.querySelector("main").replaceWith(main);
  window.scrollTo(0, kept);
  const notice = document.querySelector("[data-notice]");
  if (notice) notice.focus({preventScroll: true});
});
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
});
