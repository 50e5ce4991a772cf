// The web chat page: sends the person's actions as JSON and draws what the bot says.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const errorBox = document.getElementById("error");
  let cursor = 0;
  let busy = false;

  async function call(method, url, body) {
    const options = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(label, request, echo, pressed) {
    const b = el("button", { type: "button" }, label);
    if (pressed !== undefined) b.setAttribute("aria-pressed", pressed ? "true" : "false");
    b.addEventListener("click", () => send(request, echo));
    return b;
  }

  function actionButtons(actions) {
    const list = el("div", { class: "actions" });
    (actions || []).forEach((a) => {
      list.appendChild(button(a.label, { type: "action", action: a.kind, item_id: a.item_id }, a.label));
    });
    return list;
  }

  function draw(message) {
    const item = el("li", { class: message.direction === "in" ? "in" : "out", "data-type": message.type });
    if (message.type === "ask") {
      item.setAttribute("data-item", message.item_id);
      item.appendChild(el("div", { class: "progress" }, `${message.position} / ${message.total}`));
      item.appendChild(el("p", { class: "question" }, message.text));
      if (message.hint) item.appendChild(el("p", { class: "hint" }, message.hint));
      const choices = el("div", { class: "choices", role: "group", "aria-label": message.text });
      message.choices.forEach((c) => {
        const kind = message.input === "toggles" ? "toggle" : "choose";
        choices.appendChild(button(c.label, { type: kind, item_id: message.item_id, option_id: c.id },
          kind === "choose" ? c.label : undefined, message.input === "toggles" ? c.selected : undefined));
      });
      if (message.choices.length) item.appendChild(choices);
      item.appendChild(actionButtons(message.actions));
    } else if (message.type === "summary") {
      item.appendChild(el("p", {}, message.text));
      const list = el("dl", { class: "summary" });
      message.rows.forEach((r) => {
        list.appendChild(el("dt", {}, r.question));
        list.appendChild(el("dd", {}, r.answer));
      });
      item.appendChild(list);
      item.appendChild(actionButtons(message.actions));
    } else if (message.type === "invitation") {
      item.appendChild(el("p", {}, message.text));
      const list = el("div", { class: "actions" });
      message.rounds.forEach((r) => {
        list.appendChild(button(`${r.label}: ${r.title}`, { type: "begin", round_id: r.round_id }, r.title));
      });
      item.appendChild(list);
    } else if (message.type === "languages") {
      item.appendChild(el("p", {}, message.text));
      const list = el("div", { class: "actions" });
      message.options.forEach((o) => list.appendChild(button(o.label, { type: "language", code: o.code }, o.label)));
      item.appendChild(list);
    } else if (message.type === "prompt") {
      item.appendChild(el("p", {}, message.text));
      const list = el("div", { class: "actions" });
      message.buttons.forEach((b) => list.appendChild(button(b.label, b.request, b.label)));
      item.appendChild(list);
    } else if (message.type === "picture") {
      item.appendChild(el("p", { class: "lines" }, message.text));
      if (message.image) {
        const image = el("img", { alt: message.alt });
        image.src = `data:image/png;base64,${message.image}`;
        item.appendChild(image);
      }
    } else if (message.type === "export") {
      item.appendChild(el("p", {}, message.text));
      const link = el("a", { download: message.filename }, message.filename);
      link.href = URL.createObjectURL(new Blob([message.content], { type: "application/json" }));
      item.appendChild(link);
      item.appendChild(el("pre", { tabindex: "0" }, message.content));
    } else {
      item.appendChild(el("p", {}, message.text));
      if (message.actions && message.actions.length) item.appendChild(actionButtons(message.actions));
    }
    // Only the newest prompt keeps live buttons: older ones are history.
    log.querySelectorAll("li button").forEach((b) => { b.disabled = true; });
    log.appendChild(item);
    const firstButton = item.querySelector("button");
    if (firstButton && message.direction !== "in") firstButton.focus({ preventScroll: true });
    item.scrollIntoView({ block: "end" });
  }

  function drawAll(messages) {
    messages.forEach((m) => {
      if (m.id > cursor) { cursor = m.id; draw(m); }
    });
  }

  async function send(request, echo) {
    if (busy) return;
    busy = true;
    errorBox.textContent = "";
    try {
      const body = Object.assign({ after: cursor }, request);
      if (echo) body.echo = echo;
      const data = await call("POST", "/chat/api/send", body);
      drawAll(data.messages);
    } catch (error) {
      errorBox.textContent = String(error.message || error);
    } finally {
      busy = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ type: "text", text }, text);
  });

  async function poll() {
    try {
      const data = await call("GET", `/chat/api/messages?after=${cursor}`);
      drawAll(data.messages);
    } catch (error) { /* the next poll tries again */ }
  }

  async function start() {
    const session = await call("GET", "/chat/api/session");
    if (!session.linked && session.demo.length) {
      const box = document.getElementById("demo");
      const list = document.getElementById("demo-people");
      session.demo.forEach((p) => {
        const li = el("li");
        const b = el("button", { type: "button" }, `${p.name} (${p.units.join(", ")})`);
        b.addEventListener("click", async () => {
          const data = await call("POST", "/chat/api/demo", { person_id: p.person_id });
          box.hidden = true;
          drawAll(data.messages);
        });
        li.appendChild(b);
        list.appendChild(li);
      });
      box.hidden = false;
    }
    await poll();
    if (session.linked && cursor === 0) await send({ type: "text", text: "/start" });
    setInterval(poll, 2000);
  }

  start().catch((error) => { errorBox.textContent = String(error.message || error); });
})();
