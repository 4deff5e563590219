// Hawk's dashboard: plain JavaScript over the /v1 API, no dependencies.
"use strict";

(() => {
  const PER_PAGE = 50;
  const SUGGEST_DELAY_MS = 150;
  const KEY_STORE = "hawk.key";

  const $ = (id) => document.getElementById(id);
  const state = {
    account: null, // the account view, or null for every entry
    search: "",
    page: 1,
    totalPages: 1,
    totalCount: 0,
    asOf: null, // pins paging; moved forward by the live tail on page 1
    entries: [],
    selected: null,
    live: null, // the EventSource while the live tail is on
  };

  // ---- the API key -------------------------------------------------------------

  const storedKey = () => localStorage.getItem(KEY_STORE) || "";

  function authHeaders() {
    const key = storedKey();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  // Streams and downloads cannot send headers: they take the key as `?key=`.
  function withKey(url) {
    const key = storedKey();
    if (!key) return url;
    return url + (url.includes("?") ? "&" : "?") + "key=" + encodeURIComponent(key);
  }

  // One prompt at a time: requests refused together all wait for the same answer.
  let keyWanted = null;
  let keyAnswer = null;
  // `reason` is text, or a list of text and nodes (a command shown as code).
  function askForKey(reason) {
    if (keyAnswer) return keyAnswer;
    $("key-reason").replaceChildren(...[].concat(reason));
    $("key-input").value = storedKey();
    $("key-dialog").hidden = false;
    $("key-input").focus();
    keyAnswer = new Promise((resolve) => {
      keyWanted = resolve;
    });
    return keyAnswer;
  }

  function closeKeyDialog(saved) {
    $("key-dialog").hidden = true;
    if (keyWanted) keyWanted(saved);
    keyWanted = null;
    keyAnswer = null;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || "request failed (" + status + ")");
      this.status = status;
    }
  }

  async function api(path) {
    for (;;) {
      const response = await fetch(path, { headers: authHeaders() });
      if (response.status === 401) {
        const body = await response.json().catch(() => null);
        const why = storedKey()
          ? "The saved key was refused: " + ((body && body.error && body.error.message) || "unauthorized") + "."
          : ["This server asks for an API key. Create one with ", el("code", {}, "hawk keys create --scope read"),
            " and paste it here."];
        if (await askForKey(why)) continue;
        throw new ApiError(401, body);
      }
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, body);
      return body;
    }
  }

  // ---- rendering ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "className") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function hue(text) {
    let h = 0;
    for (const ch of text) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 360;
  }

  // The badge's color follows the noun (`invoice` of `invoice.paid`), so related
  // actions look related.
  function badge(action) {
    const span = el("span", { className: "badge", title: action }, action);
    const h = hue(action.split(".")[0]);
    span.style.background = `hsl(${h} 70% 93%)`;
    span.style.color = `hsl(${h} 55% 30%)`;
    return span;
  }

  function subject(type, id) {
    if (type == null) return el("span", { className: "none" }, "—");
    return el("span", {}, el("span", { className: "kind" }, type + " "), id);
  }

  function actor(entry) {
    if (entry.actor_type == null) return el("span", { className: "none" }, "system");
    return subject(entry.actor_type, entry.actor_id);
  }

  function shortTime(iso) {
    return iso.slice(0, 10) + " " + iso.slice(11, 19);
  }

  function row(entry) {
    const account = entry.account_id == null
      ? el("span", { className: "none" }, "—")
      : el("a", { className: "account-link", href: "#", "data-account": entry.account_id }, entry.account_id);
    // Cells cut long values short: the title shows them whole on hover.
    const clip = (className, content) => {
      const td = el("td", { className }, content);
      td.title = td.textContent;
      return td;
    };
    // Focusable, so the keyboard reaches each entry (Enter or Space opens it).
    const tr = el("tr", { "data-id": entry.id, tabIndex: 0 },
      el("td", { className: "col-id" }, entry.id),
      el("td", { className: "col-action" }, badge(entry.action)),
      clip("col-actor", actor(entry)),
      clip("col-resource", subject(entry.resource_type, entry.resource_id)),
      clip("col-account", account),
      el("td", { className: "col-time", title: entry.inserted_at }, shortTime(entry.inserted_at)));
    if (state.selected === entry.id) tr.classList.add("selected");
    return tr;
  }

  function renderTable() {
    const body = $("entries").querySelector("tbody");
    body.replaceChildren(...state.entries.map(row));
    $("empty").hidden = state.entries.length > 0;
    $("empty").textContent = state.search ? `No entries whose action contains “${state.search}”.` : "No entries.";
    renderPager();
  }

  function renderPager() {
    const n = state.totalCount.toLocaleString("en-US");
    const first = state.entries.length ? (state.page - 1) * PER_PAGE + 1 : 0;
    const last = first ? first + state.entries.length - 1 : 0;
    $("summary").textContent = first
      ? `${first.toLocaleString("en-US")}–${last.toLocaleString("en-US")} of ${n} ${state.totalCount === 1 ? "entry" : "entries"}` +
        ` · page ${state.page.toLocaleString("en-US")} of ${state.totalPages.toLocaleString("en-US")}`
      : `${n} entries`;
    $("page-info").textContent = `Page ${state.page.toLocaleString("en-US")} of ${state.totalPages.toLocaleString("en-US")}`;
    $("first").disabled = $("prev").disabled = state.page <= 1;
    $("next").disabled = $("last").disabled = state.page >= state.totalPages;
  }

  function renderKeyButton() {
    const set = Boolean(storedKey());
    $("key-button").textContent = set ? "Key ✓" : "Key";
    $("key-button").title = set ? "An API key is saved in this browser" : "API key";
  }

  // The view lives in the address (#account=…&search=…&page=…), so a reload or a
  // shared link shows the same thing. A navigation (account, page, search) is a new
  // history entry, so Back returns to the previous view.
  let shownHash = location.hash.slice(1);
  function saveView(push) {
    const params = new URLSearchParams();
    if (state.account) params.set("account", state.account);
    if (state.search) params.set("search", state.search);
    if (state.page > 1) params.set("page", String(state.page));
    const hash = params.toString();
    if (location.hash.slice(1) !== hash) {
      const url = hash ? "#" + hash : location.pathname;
      if (push) history.pushState(null, "", url);
      else history.replaceState(null, "", url);
    }
    shownHash = hash;
  }

  // Back, Forward, or an address edited by hand. One step can fire both `popstate`
  // and `hashchange`: the second finds the view already shown.
  function onAddressChange() {
    const hash = location.hash.slice(1);
    if (hash === shownHash) return;
    shownHash = hash;
    closeDetail({ refocus: false });
    state.asOf = null;
    load(restoreView(), { fresh: true });
  }

  function restoreView() {
    const params = new URLSearchParams(location.hash.slice(1));
    state.account = params.get("account") || null;
    state.search = params.get("search") || "";
    $("search").value = state.search;
    return Math.max(1, Number(params.get("page")) || 1);
  }

  function renderCrumbs() {
    const crumbs = $("crumbs");
    const parts = [];
    if (state.account) {
      parts.push(el("a", { id: "crumb-all", href: "#" }, "All entries"), el("span", { className: "kind" }, "›"),
        el("span", { className: "current" }, "Account " + state.account));
    } else {
      parts.push(el("span", { className: "current" }, "All entries"));
    }
    if (state.search) {
      const clear = el("button", { type: "button", title: "Clear the filter", id: "clear-search" }, "✕");
      const label = "action contains “" + state.search + "”";
      parts.push(el("span", { className: "chip" }, el("span", { className: "chip-text", title: label }, label), clear));
    }
    crumbs.replaceChildren(...parts);
    const csv = state.account ? "&account_id=" + encodeURIComponent(state.account) : "";
    $("export-csv").href = withKey("/v1/export?format=csv" + csv);
    $("export-ndjson").href = withKey("/v1/export?format=ndjson" + csv);
  }

  function notice(message) {
    $("notice").textContent = message || "";
    $("notice").hidden = !message;
  }

  // ---- loading pages -----------------------------------------------------------

  let loading = 0;
  async function load(page, { fresh = false, push = false } = {}) {
    const ticket = ++loading;
    const params = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
    if (state.search) params.set("search", state.search);
    if (state.asOf != null && !fresh) params.set("as_of", String(state.asOf));
    const path = state.account
      ? `/v1/accounts/${encodeURIComponent(state.account)}/entries?${params}`
      : `/v1/entries?${params}`;
    try {
      const body = await api(path);
      if (ticket !== loading) return;
      Object.assign(state, {
        page: body.page,
        totalPages: body.total_pages,
        totalCount: body.total_count,
        asOf: body.as_of,
        entries: body.entries,
      });
      notice("");
      renderCrumbs();
      renderTable();
      saveView(push);
      // A new page starts at its top (the pager sits below the table).
      if (window.scrollY > 0) window.scrollTo(0, 0);
      if (state.live) restartLive();
    } catch (err) {
      if (ticket === loading) notice(err.message);
    }
  }

  function show({ account = state.account, search = state.search } = {}) {
    state.account = account;
    state.search = search;
    state.asOf = null;
    $("search").value = search;
    load(1, { fresh: true, push: true });
  }

  // ---- the entry detail --------------------------------------------------------

  function prettyJson(value) {
    const text = JSON.stringify(value, null, 2);
    const out = document.createDocumentFragment();
    const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let at = 0;
    for (const m of text.matchAll(token)) {
      out.append(text.slice(at, m.index));
      if (m[1]) {
        out.append(el("span", { className: m[2] ? "k" : "s" }, m[1]));
        if (m[2]) out.append(m[2]);
      } else if (m[3]) {
        out.append(el("span", { className: "b" }, m[3]));
      } else {
        out.append(el("span", { className: "n" }, m[4]));
      }
      at = m.index + m[0].length;
    }
    out.append(text.slice(at));
    return out;
  }

  let detailOpener = null;
  function openDetail(entry) {
    state.selected = entry.id;
    // Whatever had the focus gets it back on close (the row, when opened from it).
    detailOpener = document.activeElement;
    for (const tr of document.querySelectorAll("#entries tbody tr")) {
      tr.classList.toggle("selected", Number(tr.dataset.id) === entry.id);
    }
    $("detail-title").textContent = "Entry #" + entry.id;
    const fields = [
      ["Action", badge(entry.action)],
      ["Time", entry.inserted_at],
      ["Actor", actor(entry)],
      ["Resource", subject(entry.resource_type, entry.resource_id)],
      ["Account", entry.account_id == null ? el("span", { className: "none" }, "—")
        : el("a", { className: "account-link", href: "#", "data-account": entry.account_id }, entry.account_id)],
      ["Hash", entry.hash ? el("span", { className: "mono" }, entry.hash) : null],
    ].filter(([, v]) => v != null);
    $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("detail-metadata").replaceChildren(prettyJson(entry.metadata));
    $("detail").hidden = false;
    $("detail-close").focus();
  }

  function closeDetail({ refocus = true } = {}) {
    const wasOpen = !$("detail").hidden;
    $("detail").hidden = true;
    const id = state.selected;
    state.selected = null;
    for (const tr of document.querySelectorAll("#entries tbody tr.selected")) tr.classList.remove("selected");
    if (wasOpen && refocus) {
      // The row may have been drawn anew (live tail) since: find it by id.
      const row = document.querySelector(`#entries tbody tr[data-id="${id}"]`);
      const back = detailOpener && detailOpener.isConnected ? detailOpener : row;
      if (back) back.focus();
    }
    detailOpener = null;
  }

  // ---- typeahead ---------------------------------------------------------------

  const suggest = { items: [], active: -1, timer: null, ticket: 0 };

  function closeSuggestions() {
    suggest.items = [];
    suggest.active = -1;
    $("suggestions").hidden = true;
    $("search").setAttribute("aria-expanded", "false");
  }

  function highlight(action, term) {
    const i = action.toLowerCase().indexOf(term.toLowerCase());
    if (!term || i < 0) return [action];
    return [action.slice(0, i), el("mark", {}, action.slice(i, i + term.length)), action.slice(i + term.length)];
  }

  function renderSuggestions(term) {
    const list = $("suggestions");
    list.replaceChildren(...suggest.items.map((s, i) => {
      const li = el("li", { role: "option", id: "suggestion-" + i, "data-index": i },
        el("span", { className: "action" }, ...highlight(s.action, term)),
        el("span", { className: "count" }, s.count.toLocaleString("en-US")));
      if (i === suggest.active) li.classList.add("active");
      li.setAttribute("aria-selected", String(i === suggest.active));
      return li;
    }));
    list.hidden = suggest.items.length === 0;
    $("search").setAttribute("aria-expanded", String(!list.hidden));
  }

  async function fetchSuggestions() {
    const term = $("search").value.trim();
    const ticket = ++suggest.ticket;
    try {
      const body = await api(`/v1/actions?${new URLSearchParams({ q: term, limit: "8" })}`);
      if (ticket !== suggest.ticket || document.activeElement !== $("search")) return;
      suggest.items = body.actions;
      suggest.active = -1;
      renderSuggestions(term);
    } catch (err) {
      notice(err.message);
    }
  }

  function pick(action) {
    closeSuggestions();
    show({ search: action.trim() });
  }

  function onSearchKey(event) {
    const open = !$("suggestions").hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!open) return;
      event.preventDefault();
      const n = suggest.items.length;
      suggest.active = event.key === "ArrowDown" ? (suggest.active + 1) % n : (suggest.active - 1 + n) % n;
      renderSuggestions($("search").value.trim());
      $("search").setAttribute("aria-activedescendant", "suggestion-" + suggest.active);
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(suggest.timer);
      suggest.ticket++;
      if (open && suggest.active >= 0) pick(suggest.items[suggest.active].action);
      else pick($("search").value);
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        suggest.ticket++;
        closeSuggestions();
      }
    }
  }

  // ---- the live tail -----------------------------------------------------------

  function matches(entry) {
    if (state.account && entry.account_id !== state.account) return false;
    return !state.search || entry.action.toLowerCase().includes(state.search.toLowerCase());
  }

  function onLiveEntry(event) {
    const entry = JSON.parse(event.data);
    if (!matches(entry)) {
      if (state.page === 1 && entry.id > (state.asOf || 0)) state.asOf = entry.id;
      return;
    }
    state.totalCount += 1;
    state.totalPages = Math.max(1, Math.ceil(state.totalCount / PER_PAGE));
    if (state.page !== 1) {
      renderPager();
      return;
    }
    // Page 1 shows the newest entries as of the newest one seen: keep it that way,
    // so the next page neither repeats nor skips.
    state.asOf = entry.id;
    state.entries = [entry, ...state.entries].slice(0, PER_PAGE);
    const body = $("entries").querySelector("tbody");
    const tr = row(entry);
    tr.classList.add("fresh");
    body.prepend(tr);
    while (body.children.length > PER_PAGE) body.lastElementChild.remove();
    $("empty").hidden = true;
    renderPager();
  }

  function startLive() {
    stopLive();
    const after = state.asOf == null ? "" : "?after=" + state.asOf;
    const source = new EventSource(withKey("/v1/stream" + after));
    source.onmessage = onLiveEntry;
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        notice("The live tail was closed by the server.");
        $("live").checked = false;
        state.live = null;
      }
    };
    state.live = source;
  }

  function stopLive() {
    if (state.live) state.live.close();
    state.live = null;
  }

  function restartLive() {
    if (state.live) startLive();
  }

  // ---- wiring ------------------------------------------------------------------

  function wire() {
    const search = $("search");
    search.addEventListener("input", () => {
      clearTimeout(suggest.timer);
      suggest.timer = setTimeout(fetchSuggestions, SUGGEST_DELAY_MS);
    });
    search.addEventListener("focus", () => {
      clearTimeout(suggest.timer);
      suggest.timer = setTimeout(fetchSuggestions, SUGGEST_DELAY_MS);
    });
    search.addEventListener("keydown", onSearchKey);
    search.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
    search.addEventListener("search", () => {
      if (!search.value) pick("");
    });
    $("search-form").addEventListener("submit", (e) => e.preventDefault());
    $("suggestions").addEventListener("mousedown", (e) => {
      const li = e.target.closest("li");
      if (li) {
        e.preventDefault();
        pick(suggest.items[Number(li.dataset.index)].action);
      }
    });

    $("entries").addEventListener("click", (e) => {
      const link = e.target.closest("[data-account]");
      if (link) {
        e.preventDefault();
        closeDetail({ refocus: false });
        show({ account: link.dataset.account, search: "" });
        return;
      }
      const tr = e.target.closest("tr[data-id]");
      if (tr) {
        const entry = state.entries.find((x) => x.id === Number(tr.dataset.id));
        if (entry) openDetail(entry);
      }
    });
    $("entries").addEventListener("keydown", (e) => {
      const tr = e.target;
      if (!tr.matches("tbody tr[data-id]")) return;
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        const entry = state.entries.find((x) => x.id === Number(tr.dataset.id));
        if (entry) openDetail(entry);
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        if (next) {
          e.preventDefault();
          next.focus();
        }
      }
    });
    $("detail").addEventListener("click", (e) => {
      const link = e.target.closest("[data-account]");
      if (link) {
        e.preventDefault();
        closeDetail({ refocus: false });
        show({ account: link.dataset.account, search: "" });
      }
    });
    $("detail-close").addEventListener("click", () => closeDetail());
    $("crumbs").addEventListener("click", (e) => {
      if (e.target.closest("#crumb-all")) {
        e.preventDefault();
        show({ account: null });
      } else if (e.target.closest("#clear-search")) {
        show({ search: "" });
      }
    });

    const go = (page) => load(page, { push: true });
    $("first").addEventListener("click", () => go(1));
    $("prev").addEventListener("click", () => go(Math.max(1, state.page - 1)));
    $("next").addEventListener("click", () => go(Math.min(state.totalPages, state.page + 1)));
    $("last").addEventListener("click", () => go(state.totalPages));

    $("live").addEventListener("change", (e) => {
      if (e.target.checked) {
        // New entries appear on top of the newest page.
        if (state.page !== 1) load(1, { fresh: true }).then(startLive);
        else startLive();
      } else {
        stopLive();
      }
    });

    $("key-button").addEventListener("click", () => {
      askForKey("The key this dashboard sends to the API (needed when the server has API keys).")
        .then((saved) => saved && load(state.page));
    });
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("key-input").value.trim();
      if (key) localStorage.setItem(KEY_STORE, key);
      else localStorage.removeItem(KEY_STORE);
      renderCrumbs();
      renderKeyButton();
      closeKeyDialog(true);
    });
    $("key-cancel").addEventListener("click", () => closeKeyDialog(false));
    $("key-forget").addEventListener("click", () => {
      localStorage.removeItem(KEY_STORE);
      $("key-input").value = "";
      renderKeyButton();
    });

    window.addEventListener("popstate", onAddressChange);
    window.addEventListener("hashchange", onAddressChange);

    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        if (!$("key-dialog").hidden) closeKeyDialog(false);
        else if (!$("detail").hidden) closeDetail();
      } else if (e.key === "/" && document.activeElement !== search && $("key-dialog").hidden) {
        e.preventDefault();
        search.focus();
      }
    });
  }

  wire();
  renderKeyButton();
  const page = restoreView();
  renderCrumbs();
  load(page, { fresh: true });
})();
