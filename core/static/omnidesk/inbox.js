// The inbox: list, thread and composer enhanced with fetch and live events. The server renders every
// fragment (rows, messages, the conversation), so this script only fetches and places HTML.
(function () {
  "use strict";
  const root = document.getElementById("inbox");
  if (!root) return;
  const list = document.getElementById("conversation-list");
  const listEmpty = document.getElementById("list-empty");
  const column = document.getElementById("conversation");
  const filtersForm = document.getElementById("list-filters");
  const csrf = document.getElementById("csrf-token").dataset.token;
  let openId = root.dataset.conversationId ? Number(root.dataset.conversationId) : null;
  let loadingMore = false;
  let listGeneration = 0;

  // ---------------------------------------------------------------------------------------- helpers
  async function request(url, options = {}) {
    const headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    if (options.method && options.method !== "GET") headers["X-CSRFToken"] = csrf;
    const response = await fetch(url, Object.assign({}, options, { headers, credentials: "same-origin" }));
    if (response.status === 401 || response.redirected && response.url.includes("/login/")) {
      location.href = "/login/?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("signed out");
    }
    return response;
  }

  async function errorText(response) {
    try { return (await response.json()).error.message; } catch (e) { return `Failed (${response.status})`; }
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function filterParams() {
    const params = new URLSearchParams(new FormData(filtersForm));
    for (const [key, value] of [...params.entries()]) if (value === "") params.delete(key);
    if (!params.has("status")) params.set("status", "");
    return params;
  }

  function syncUrl() {
    const params = filterParams();
    if (params.get("status") === "open") params.delete("status"); // the default; "status=" means any status
    if (params.get("view") === "all") params.delete("view");
    if (openId) params.set("c", openId);
    const query = params.toString();
    history.replaceState(null, "", query ? `/?${query}` : "/");
  }

  // ---------------------------------------------------------------------------------------- list
  function updateEmpty() { listEmpty.hidden = list.children.length > 0; }

  function markActive() {
    for (const row of list.querySelectorAll(".conversation-row")) {
      row.classList.toggle("active", Number(row.dataset.id) === openId);
      row.querySelector("a").setAttribute("aria-current", Number(row.dataset.id) === openId ? "true" : "false");
    }
  }

  async function reloadList() {
    const generation = ++listGeneration;
    const response = await request(`/inbox/rows?${filterParams()}`);
    if (generation !== listGeneration || !response.ok) return;
    list.replaceChildren(fragment(await response.text()));
    list.dataset.nextCursor = response.headers.get("X-Next-Cursor") || "";
    markActive();
    updateEmpty();
    syncUrl();
  }

  async function loadMore() {
    if (loadingMore || !list.dataset.nextCursor) return;
    loadingMore = true;
    const generation = listGeneration;
    try {
      const params = filterParams();
      params.set("cursor", list.dataset.nextCursor);
      const response = await request(`/inbox/rows?${params}`);
      if (generation !== listGeneration || !response.ok) return;
      const rows = fragment(await response.text());
      for (const row of rows.querySelectorAll(".conversation-row")) list.querySelector(`[data-id="${row.dataset.id}"]`)?.remove();
      list.append(rows);
      list.dataset.nextCursor = response.headers.get("X-Next-Cursor") || "";
      markActive();
    } finally { loadingMore = false; }
  }

  const listColumn = list.closest(".list-column");
  listColumn.addEventListener("scroll", () => {
    if (listColumn.scrollTop + listColumn.clientHeight > listColumn.scrollHeight - 300) loadMore();
  }, { passive: true });

  let searchTimer = null;
  filtersForm.addEventListener("input", (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reloadList, event.target.type === "search" ? 250 : 0);
  });
  filtersForm.addEventListener("submit", (event) => { event.preventDefault(); reloadList(); });

  document.querySelector(".sidebar").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-view], a[data-filter]");
    if (!link) return;
    event.preventDefault();
    if (link.dataset.view) {
      filtersForm.elements.view.value = link.dataset.view;
      for (const name of ["assignee", "channel", "department", "label"]) filtersForm.elements[name].value = "";
      filtersForm.elements.status.value = "open";
      for (const other of document.querySelectorAll("a[data-view]")) other.removeAttribute("aria-current");
      link.setAttribute("aria-current", "true");
    } else {
      filtersForm.elements[link.dataset.filter].value = link.dataset.value;
    }
    reloadList();
  });

  // Rows touched by events are refreshed together: one request for a burst of events.
  const pendingRows = new Set();
  let rowsTimer = null;
  function refreshRow(id) {
    pendingRows.add(id);
    if (!rowsTimer) rowsTimer = setTimeout(flushRows, 120);
  }

  async function flushRows() {
    rowsTimer = null;
    const ids = [...pendingRows];
    pendingRows.clear();
    if (!ids.length) return;
    const params = filterParams();
    params.set("ids", ids.join(","));
    const response = await request(`/inbox/rows?${params}`);
    if (!response.ok) return;
    const rows = fragment(await response.text());
    const returned = new Set();
    for (const row of [...rows.querySelectorAll(".conversation-row")]) {
      returned.add(Number(row.dataset.id));
      list.querySelector(`.conversation-row[data-id="${row.dataset.id}"]`)?.remove();
      placeRow(row);
    }
    for (const id of ids) if (!returned.has(id)) list.querySelector(`.conversation-row[data-id="${id}"]`)?.remove();
    markActive();
    updateEmpty();
  }

  function placeRow(row) {
    const ts = parseFloat(row.dataset.ts);
    for (const other of list.querySelectorAll(".conversation-row")) {
      const otherTs = parseFloat(other.dataset.ts);
      if (otherTs < ts || (otherTs === ts && Number(other.dataset.id) < Number(row.dataset.id))) {
        list.insertBefore(row, other);
        return;
      }
    }
    // Older than everything shown: only append when the whole list is loaded.
    if (!list.dataset.nextCursor) list.append(row);
  }

  let countsTimer = null;
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(async () => {
      const response = await request("/inbox/counts");
      if (!response.ok) return;
      const counts = await response.json();
      for (const [name, value] of Object.entries(counts)) {
        const badge = document.querySelector(`[data-count="${name}"]`);
        if (badge) badge.textContent = value;
      }
    }, 400);
  }

  // ---------------------------------------------------------------------------------------- conversation
  list.addEventListener("click", (event) => {
    const link = event.target.closest(".row-link");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    openConversation(Number(link.closest(".conversation-row").dataset.id));
  });

  async function openConversation(id, keepDraft = false) {
    const draft = keepDraft ? document.getElementById("composer-text")?.value : "";
    const response = await request(`/inbox/c/${id}`);
    if (!response.ok) return;
    openId = id;
    root.dataset.conversationId = id;
    column.replaceChildren(fragment(await response.text()));
    root.classList.add("has-conversation");
    if (draft) document.getElementById("composer-text").value = draft;
    markActive();
    syncUrl();
    wireConversation();
    scrollThreadToEnd();
    markRead();
  }

  function markRead(force = false) {
    const row = list.querySelector(`.conversation-row[data-id="${openId}"]`);
    if (openId && document.visibilityState === "visible" && (force || !row || row.classList.contains("unread"))) {
      request(`/inbox/c/${openId}/read`, { method: "POST" });
    }
  }

  function thread() { return document.getElementById("thread"); }

  function scrollThreadToEnd() {
    const wrap = thread()?.parentElement;
    if (wrap) wrap.scrollTop = wrap.scrollHeight;
  }

  function lastMessageId() {
    const items = thread()?.querySelectorAll("[data-message-id]") || [];
    return Math.max(0, ...[...items].map((item) => Number(item.dataset.messageId)));
  }

  function dropRepeatedSeparators() {
    let lastDay = null;
    for (const item of [...thread().children]) {
      if (item.classList.contains("day-separator")) {
        if (item.dataset.day === lastDay) item.remove(); else lastDay = item.dataset.day;
      } else if (item.dataset.day && item.dataset.day !== lastDay) {
        const separator = document.createElement("li");
        separator.className = "day-separator";
        separator.dataset.day = item.dataset.day;
        separator.innerHTML = `<span>${new Date(item.dataset.day + "T12:00:00").toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" })}</span>`;
        thread().insertBefore(separator, item);
        lastDay = item.dataset.day;
      }
    }
  }

  async function appendNewMessages(afterId = null) {
    const id = openId;
    if (!id || !thread()) return;
    // Rows may commit out of id order: an event names its message, so fetch from just before it.
    const after = afterId === null ? lastMessageId() : Math.min(lastMessageId(), afterId);
    const response = await request(`/inbox/c/${id}/thread?after=${after}`);
    if (!response.ok || id !== openId) return;
    const wrap = thread().parentElement;
    const atBottom = wrap.scrollTop + wrap.clientHeight > wrap.scrollHeight - 80;
    const items = fragment(await response.text());
    for (const item of items.querySelectorAll("[data-message-id]")) thread().querySelector(`[data-message-id="${item.dataset.messageId}"]`)?.remove();
    thread().append(items);
    thread().parentElement.querySelector(".empty-state")?.remove();
    dropRepeatedSeparators();
    if (atBottom) scrollThreadToEnd();
  }

  let loadingOlder = false;
  async function loadOlder() {
    const t = thread();
    if (loadingOlder || !t || t.dataset.hasOlder !== "1") return;
    const first = t.querySelector("[data-message-id]");
    if (!first) return;
    loadingOlder = true;
    try {
      const response = await request(`/inbox/c/${openId}/thread?before=${first.dataset.messageId}`);
      if (!response.ok) return;
      const wrap = t.parentElement;
      const fromBottom = wrap.scrollHeight - wrap.scrollTop;
      t.prepend(fragment(await response.text()));
      t.dataset.hasOlder = response.headers.get("X-Has-Older");
      dropRepeatedSeparators();
      wrap.scrollTop = wrap.scrollHeight - fromBottom;
    } finally { loadingOlder = false; }
  }

  async function refreshMessage(id) {
    const current = thread()?.querySelector(`[data-message-id="${id}"]`);
    if (!current) return;
    const response = await request(`/inbox/m/${id}`);
    if (!response.ok) return;
    const replacement = fragment(await response.text()).querySelector("[data-message-id]");
    if (replacement) thread().querySelector(`[data-message-id="${id}"]`)?.replaceWith(replacement);
  }

  async function refreshConversationChrome() {
    // Status, assignee, actions and the contact panel, without touching the thread or the draft.
    const id = openId;
    const response = await request(`/inbox/c/${id}`);
    if (!response.ok || id !== openId) return;
    const fresh = fragment(await response.text());
    const swap = (selector) => {
      const next = fresh.querySelector(selector);
      const current = column.querySelector(selector);
      if (next && current) current.replaceWith(next);
    };
    swap(".conversation-header");
    swap(".contact-panel");
    const conversation = column.querySelector(".conversation");
    const freshConversation = fresh.querySelector(".conversation");
    if (conversation && freshConversation && conversation.dataset.windowOpen !== freshConversation.dataset.windowOpen) {
      conversation.dataset.windowOpen = freshConversation.dataset.windowOpen;
      applyWindow();
    }
    wireActions();
  }

  function applyWindow() {
    const conversation = column.querySelector(".conversation");
    const open = conversation.dataset.windowOpen === "1";
    document.getElementById("window-note").hidden = open;
    for (const id of ["composer-text", "composer-file", "send-button"]) document.getElementById(id).disabled = !open && mode === "reply";
  }

  // ---------------------------------------------------------------------------------------- composer
  let mode = "reply";
  let quickReplies = [];

  function wireConversation() {
    const composer = document.getElementById("composer");
    if (!composer) return;
    mode = "reply";
    quickReplies = JSON.parse(document.getElementById("quick-replies-data")?.textContent || "[]");
    const text = document.getElementById("composer-text");
    const error = document.getElementById("composer-error");
    thread().parentElement.addEventListener("scroll", (event) => { if (event.target.scrollTop < 200) loadOlder(); }, { passive: true });

    composer.querySelector(".composer-tabs").addEventListener("click", (event) => {
      const tab = event.target.closest("[data-mode]");
      if (tab) {
        mode = tab.dataset.mode;
        for (const other of composer.querySelectorAll("[data-mode]")) other.setAttribute("aria-selected", String(other === tab));
        composer.classList.toggle("note-mode", mode === "note");
        text.placeholder = mode === "note" ? "A private note for your team (the customer never sees it)" : "Type a reply, / for quick replies, Ctrl+Enter to send";
        const open = column.querySelector(".conversation").dataset.windowOpen === "1";
        text.disabled = mode === "reply" && !open;
        document.getElementById("send-button").disabled = mode === "reply" && !open;
        text.focus();
      }
      if (event.target.closest("[data-open-templates]")) openTemplates();
    });

    text.addEventListener("input", () => showQuickReplies(text));
    text.addEventListener("keydown", (event) => {
      const menu = document.getElementById("quick-replies");
      if (!menu.hidden && (event.key === "Enter" || event.key === "Tab")) {
        const first = menu.querySelector("button");
        if (first) { event.preventDefault(); first.click(); return; }
      }
      if (event.key === "Escape") menu.hidden = true;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); composer.requestSubmit(); }
    });

    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const button = document.getElementById("send-button");
      button.disabled = true;
      try {
        let response;
        if (mode === "note") {
          const body = new FormData();
          body.set("body", text.value);
          response = await request(`/inbox/c/${openId}/note`, { method: "POST", body });
          if (response.ok) {
            thread().append(fragment(await response.text()));
            dropRepeatedSeparators();
          }
        } else {
          response = await request(`/inbox/c/${openId}/send`, { method: "POST", body: new FormData(composer) });
          if (response.ok) appendNewMessages();
        }
        if (!response.ok) { error.textContent = await errorText(response); return; }
        text.value = "";
        document.getElementById("composer-file").value = "";
        scrollThreadToEnd();
      } finally { button.disabled = false; applyWindowIfReply(); text.focus(); }
    });
    wireActions();
    wireTemplates();
  }

  function applyWindowIfReply() { if (mode === "reply") applyWindow(); }

  function showQuickReplies(text) {
    const menu = document.getElementById("quick-replies");
    const match = /^\/(\S*)$/.exec(text.value);
    if (!match || !quickReplies.length) { menu.hidden = true; return; }
    const found = quickReplies.filter((reply) => reply.shortcut.startsWith(match[1].toLowerCase())).slice(0, 8);
    menu.replaceChildren(...found.map((reply) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `/${reply.shortcut} — ${reply.body.slice(0, 60)}`;
      button.addEventListener("click", () => { text.value = reply.body; menu.hidden = true; text.focus(); });
      item.append(button);
      return item;
    }));
    menu.hidden = found.length === 0;
  }

  function wireActions() {
    for (const form of column.querySelectorAll("form[data-action]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const response = await request(form.getAttribute("action"), { method: "POST", body: new FormData(form) });
        if (!response.ok) { alert(await errorText(response)); return; }
        refreshConversationChrome();
        refreshRow(openId);
        refreshCounts();
      });
    }
  }

  let templates = [];
  function wireTemplates() {
    const dialog = document.getElementById("template-dialog");
    const form = document.getElementById("template-form");
    const select = document.getElementById("template-select");
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    select.addEventListener("change", renderTemplateVars);
    form.addEventListener("input", renderTemplatePreview);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await request(form.getAttribute("action"), { method: "POST", body: new FormData(form) });
      if (!response.ok) { document.getElementById("template-error").textContent = await errorText(response); return; }
      dialog.close();
      appendNewMessages();
    });
  }

  async function openTemplates() {
    const dialog = document.getElementById("template-dialog");
    const select = document.getElementById("template-select");
    const response = await request(`/inbox/c/${openId}/templates`);
    templates = response.ok ? (await response.json()).results : [];
    select.replaceChildren(...templates.map((template) => new Option(`${template.name} (${template.language})`, template.id)));
    if (!templates.length) select.append(new Option("No approved template: sync them on the Channels page", ""));
    document.getElementById("template-error").textContent = "";
    renderTemplateVars();
    dialog.showModal();
  }

  function currentTemplate() {
    const id = Number(document.getElementById("template-select").value);
    return templates.find((template) => template.id === id);
  }

  function renderTemplateVars() {
    const box = document.getElementById("template-vars");
    const template = currentTemplate();
    box.replaceChildren();
    if (!template) return;
    for (const [part, names] of [["header", template.header_vars], ["body", template.body_vars]]) {
      for (const name of names) {
        const label = document.createElement("label");
        label.textContent = `${part === "header" ? "Header" : "Body"} variable {{${name}}}`;
        const input = document.createElement("input");
        input.type = "text";
        input.name = `${part}_${name}`;
        input.required = true;
        label.append(input);
        box.append(label);
      }
    }
    renderTemplatePreview();
  }

  function renderTemplatePreview() {
    const template = currentTemplate();
    const preview = document.getElementById("template-preview");
    if (!template) { preview.textContent = ""; return; }
    const form = document.getElementById("template-form");
    preview.textContent = template.body.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name) => form.elements[`body_${name}`]?.value || whole);
  }

  // ---------------------------------------------------------------------------------------- keyboard
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select, [contenteditable]") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key !== "j" && event.key !== "k") return;
    const rows = [...list.querySelectorAll(".conversation-row")];
    if (!rows.length) return;
    const index = rows.findIndex((row) => Number(row.dataset.id) === openId);
    const next = rows[Math.max(0, Math.min(rows.length - 1, index + (event.key === "j" ? 1 : -1)))];
    if (index === -1) openConversation(Number(rows[0].dataset.id)); else openConversation(Number(next.dataset.id));
  });

  // ---------------------------------------------------------------------------------------- live
  document.addEventListener("omnidesk:message.created", (event) => {
    const message = event.detail;
    if (message.conversation_id === openId) {
      appendNewMessages(message.id - 1).then(() => { if (message.direction === "inbound") markRead(true); });
    }
    refreshRow(message.conversation_id);
  });
  document.addEventListener("omnidesk:message.updated", (event) => {
    if (event.detail.conversation_id === openId) refreshMessage(event.detail.id);
  });
  for (const type of ["conversation.created", "conversation.updated"]) {
    document.addEventListener(`omnidesk:${type}`, (event) => {
      refreshRow(event.detail.id);
      refreshCounts();
      if (event.detail.id === openId) refreshConversationChrome();
    });
  }
  document.addEventListener("omnidesk:user.access_changed", () => {
    // My role or departments changed: the list and counts are what I may see now.
    reloadList();
    refreshCounts();
  });
  let connectedOnce = false;
  document.addEventListener("omnidesk:hello", () => {
    // After a reconnect, fetch what the socket missed while it was down.
    if (connectedOnce) {
      reloadList();
      refreshCounts();
      if (openId) openConversation(openId, true);
    }
    connectedOnce = true;
  });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") markRead(); });

  if (openId) { wireConversation(); scrollThreadToEnd(); markRead(); }
  markActive();
})();
