/*
 * signup embed: renders a session's sign-up form into the page, right where this script tag stands.
 *
 *   <script src="https://…/register/embed.js" data-session="SESSION_ID" async></script>
 *
 * No iframe, no cookies. The form is fetched from the sign-up function (CORS: only sites listed in the
 * session's allowed_origins may), posted with fetch, and replaced by a thank-you message. Without JavaScript
 * the <noscript> link of the snippet leads to the same form on the function's own page.
 */
(function () {
  "use strict";

  var REFUSED = {
    nl: "Het aanmeldformulier kan op deze website niet worden getoond.",
    en: "The sign-up form cannot be shown on this website."
  };
  var OPEN = { nl: "Open het aanmeldformulier", en: "Open the sign-up form" };

  function language(script) {
    var lang = (script.getAttribute("data-lang") || document.documentElement.lang || "nl").slice(0, 2);
    return REFUSED[lang] ? lang : "nl";
  }

  function refuse(mount, script, formUrl) {
    var lang = language(script);
    var note = document.createElement("p");
    note.className = "signup-refused";
    note.setAttribute("role", "alert");
    note.textContent = REFUSED[lang] + " ";
    var link = document.createElement("a");
    link.href = formUrl;
    link.textContent = OPEN[lang];
    note.appendChild(link);
    mount.replaceChildren(note);
  }

  function fieldsOf(form) {
    var data = {};
    new FormData(form).forEach(function (value, name) {
      data[name] = value;
    });
    return data;
  }

  function clearErrors(form) {
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    form.querySelectorAll(".signup-error").forEach(function (message) {
      message.remove();
    });
  }

  // Focus alone does not scroll an element that already has it (Enter in the e-mail field), and the summary that
  // appears above pushes that field down: on a phone, out of view. So scroll the field, its label and its error in.
  function bringToView(target) {
    target.focus({ preventScroll: true });
    (target.closest(".signup-field") || target).scrollIntoView({ block: "center" });
  }

  function showSummary(form, text) {
    var summary = form.querySelector(".signup-summary");
    summary.textContent = text;
    summary.hidden = !text;
  }

  function showErrors(form, errors, root) {
    var first = null;
    var general = null;
    Object.keys(errors).forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (!input || input.type === "hidden") general = errors[name];
    });
    Array.prototype.forEach.call(form.elements, function (input) {
      var text = input.name && input.type !== "hidden" && errors[input.name];
      if (!text) return;
      var message = document.createElement("p");
      message.className = "signup-error";
      message.id = input.id + "-error";
      message.textContent = text;
      var field = input.closest(".signup-field") || input.parentNode;
      field.appendChild(message);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      if (!first) first = input;
    });
    showSummary(form, general || root.getAttribute("data-error-summary"));
    bringToView(first || form.querySelector(".signup-summary"));
  }

  function thank(form, root, status) {
    var message = document.createElement("p");
    message.className = "signup-notice signup-thanks";
    message.setAttribute("role", "status");
    message.tabIndex = -1;
    var known = status === "waitlisted" || status === "check_email";
    message.textContent = root.getAttribute("data-thanks-" + (known ? status : "confirmed"));
    form.replaceWith(message);
    bringToView(message);
  }

  function enhance(root) {
    var form = root.querySelector("form.signup-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      clearErrors(form);
      showSummary(form, "");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(fieldsOf(form))
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { status: response.status, body: body };
          });
        })
        .then(function (answer) {
          if (answer.status === 201) return thank(form, root, answer.body.status);
          if (answer.status === 422 && answer.body.errors) return showErrors(form, answer.body.errors, root);
          showSummary(form, answer.body.message || root.getAttribute("data-error-network"));
          bringToView(form.querySelector(".signup-summary"));
        })
        .catch(function () {
          showSummary(form, root.getAttribute("data-error-network"));
        })
        .finally(function () {
          button.disabled = false;
          if (window.turnstile) window.turnstile.reset();
        });
    });
  }

  // Scripts in a fragment placed with innerHTML do not run: load Cloudflare Turnstile ourselves when the session
  // uses it; it renders the widget (and its hidden cf-turnstile-response field) into the form by itself.
  function loadTurnstile(root) {
    var widget = root.querySelector(".cf-turnstile");
    var source = root.querySelector("script[src*='challenges.cloudflare.com']");
    if (!widget || !source || window.turnstile) return;
    var script = document.createElement("script");
    script.src = source.src;
    script.async = true;
    document.head.appendChild(script);
  }

  // The form's styles, once per page, in the head where a stylesheet belongs (a <style> may not stand in a <div>).
  function linkStylesheet(href) {
    var present = Array.prototype.some.call(document.querySelectorAll("link[rel=stylesheet]"), function (link) {
      return link.href === href;
    });
    if (present) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  function mount(script) {
    script.setAttribute("data-signup-mounted", "");
    var base = script.src.replace(/\/embed\.js(\?.*)?$/, "");
    var session = encodeURIComponent(script.getAttribute("data-session") || "");
    var formUrl = base + "/sessions/" + session;
    linkStylesheet(base + "/signup.css");
    var target = document.createElement("div");
    target.className = "signup-embed";
    target.setAttribute("aria-live", "polite");
    script.parentNode.insertBefore(target, script.nextSibling);
    fetch(formUrl + "/form", { credentials: "omit", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        target.innerHTML = html;
        // The fragment links the stylesheet for sites that paste it without this script; the head has it now.
        target.querySelectorAll("link[rel=stylesheet]").forEach(function (link) {
          link.remove();
        });
        loadTurnstile(target);
        enhance(target.querySelector(".signup"));
      })
      .catch(function () {
        // A site that is not in the session's allowed_origins lands here: the browser's CORS check refused.
        refuse(target, script, formUrl);
      });
  }

  document.querySelectorAll('script[data-session][src*="/embed.js"]:not([data-signup-mounted])').forEach(mount);
})();
