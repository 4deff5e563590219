// Hawk's dashboard: plain JavaScript over the /v1 API, no dependencies.
"use strict";

(() => {
  const PER_PAGE = 50;
  const SUGGEST_DELAY_MS = 150;
  const SUGGEST_LIMIT = 8;
  const KEY_STORE = "hawk.key";
  // The time range's presets: how far back each reaches.
  const RANGES = { "1h": 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3, "30d": 30 * 24 * 3600e3 };

  const $ = (id) => document.getElementById(id);
  const state = {
    // What is shown: the query phrase and the time range (`since`/`until` as sent, a
    // preset's start resolved when it was chosen). Replaced only by a load that succeeds.
    view: { q: "", range: "", since: "", until: "" },
    page: 1,
    totalPages: 1,
    totalCount: 0,
    asOf: null, // pins paging; moved forward by the live tail on page 1
    entries: [],
    loaded: false,
    phraseError: null,
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
      const error = (body && body.error) || {};
      super(error.message || "request failed (" + status + ")");
      this.status = status;
      this.field = error.field || null;
      this.position = Number.isInteger(error.position) ? error.position : null;
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

  // ---- the query phrase --------------------------------------------------------

  // The phrase is split as the server splits it (hawk-audit's filter/phrase.rs): words
  // at whitespace outside double quotes, each word one clause, a leading unquoted `-`
  // negating it. Each word keeps where it starts and ends, so a chip can remove or
  // negate its clause in place. Only the server judges a phrase: this reading is
  // lenient, for chips and suggestions.
  function words(phrase) {
    const out = [];
    const space = /\s/;
    let i = 0;
    while (i < phrase.length) {
      if (space.test(phrase[i])) {
        i++;
        continue;
      }
      const start = i;
      const pieces = [];
      let plain = "";
      while (i < phrase.length && !space.test(phrase[i])) {
        const c = phrase[i++];
        if (c !== '"') {
          plain += c;
          continue;
        }
        if (plain) pieces.push({ text: plain, quoted: false });
        plain = "";
        let quoted = "";
        while (i < phrase.length && phrase[i] !== '"') {
          if (phrase[i] === "\\" && i + 1 < phrase.length) i++;
          quoted += phrase[i++];
        }
        i++; // the closing quote, when there is one
        pieces.push({ text: quoted, quoted: true });
      }
      if (plain) pieces.push({ text: plain, quoted: false });
      i = Math.min(i, phrase.length);
      out.push({ start, end: i, text: phrase.slice(start, i), pieces });
    }
    return out;
  }

  const joined = (pieces) => pieces.map((p) => p.text).join("");

  // A word as a clause: `{ negated, name, value }`; `name` is null for a bare word
  // (a term the action contains), and `value` is unquoted.
  function clause(word) {
    const pieces = word.pieces.map((p) => ({ ...p }));
    let negated = false;
    const first = pieces[0];
    if (first && !first.quoted && first.text.length > 1 && first.text.startsWith("-")) {
      first.text = first.text.slice(1);
      negated = true;
    } else if (first && !first.quoted && first.text === "-" && pieces.length > 1) {
      pieces.shift();
      negated = true;
    }
    const at = pieces.findIndex((p) => !p.quoted && p.text.includes(":"));
    if (at < 0) return { negated, name: null, value: joined(pieces) };
    const colon = pieces[at].text.indexOf(":");
    const name = joined(pieces.slice(0, at)) + pieces[at].text.slice(0, colon);
    const value = pieces[at].text.slice(colon + 1) + joined(pieces.slice(at + 1));
    return { negated, name, value };
  }

  // A value as the phrase spells it: quoted when it holds a space, a quote, a
  // backslash or a colon (or, as a bare word, starts with `-`).
  function quote(value, bare = false) {
    if (value !== "" && !/[\s"\\:]/.test(value) && !(bare && value.startsWith("-"))) return value;
    return '"' + value.replace(/["\\]/g, "\\$&") + '"';
  }

  const typeAndId = (type, id) => quote(type) + ":" + quote(id);

  // The clause that selects what an entry has in one of its columns.
  function entryClause(entry, column) {
    switch (column) {
      case "actor":
        return entry.actor_type == null ? "is:system" : "actor:" + typeAndId(entry.actor_type, entry.actor_id);
      case "resource":
        return entry.resource_type == null ? null : "resource:" + typeAndId(entry.resource_type, entry.resource_id);
      case "account":
        return entry.account_id == null ? null : "account:" + quote(entry.account_id);
      default:
        return "action:" + quote(entry.action);
    }
  }

  const positive = (text) => text.replace(/^-/, "");

  // The phrase with `text` as one of its clauses: in place of the same clause (negated
  // or not), else at the end.
  function withClause(phrase, text) {
    const same = words(phrase).find((w) => positive(w.text) === positive(text));
    if (same) return phrase.slice(0, same.start) + text + phrase.slice(same.end);
    return phrase ? phrase + " " + text : text;
  }

  function withoutWord(phrase, index) {
    const word = words(phrase)[index];
    if (!word) return phrase;
    return [phrase.slice(0, word.start).trimEnd(), phrase.slice(word.end).trimStart()].filter(Boolean).join(" ");
  }

  function negatedWord(phrase, index) {
    const word = words(phrase)[index];
    if (!word) return phrase;
    const text = clause(word).negated ? word.text.slice(1) : "-" + word.text;
    return phrase.slice(0, word.start) + text + phrase.slice(word.end);
  }

  // ---- the view and the address ------------------------------------------------

  const isoSeconds = (date) => date.toISOString().replace(/\.\d+Z$/, "Z");

  // A range as the view holds it: a preset starts its length before now.
  function resolveRange(range, since = "", until = "") {
    if (RANGES[range]) return { range, since: isoSeconds(new Date(Date.now() - RANGES[range])), until: "" };
    if (range === "custom" || since || until) return { range: "custom", since, until };
    return { range: "", since: "", until: "" };
  }

  // The filter parameters every listing, the export and the live tail take.
  function filterParams(view) {
    const params = new URLSearchParams();
    if (view.q) params.set("q", view.q);
    if (view.since) params.set("since", view.since);
    if (view.until) params.set("until", view.until);
    return params;
  }

  const hasFilters = (view) => Boolean(view.q || view.since || view.until);

  // The view lives in the address (#q=…&range=…&page=…, or since/until for a custom
  // range), so a reload or a shared link shows the same thing. A preset is kept by
  // name: the link means "the last hour" whenever it is opened. A navigation is a new
  // history entry, so Back returns to the previous view.
  function viewHash(view, page) {
    // Colons and spaces stay readable: `q=actor:user:42+paid`.
    const encode = (value) =>
      encodeURIComponent(value).replace(/%3A/gi, ":").replace(/%2C/gi, ",").replace(/%20/g, "+");
    const parts = [];
    if (view.q) parts.push("q=" + encode(view.q));
    if (RANGES[view.range]) {
      parts.push("range=" + view.range);
    } else {
      if (view.since) parts.push("since=" + encode(view.since));
      if (view.until) parts.push("until=" + encode(view.until));
    }
    if (page > 1) parts.push("page=" + page);
    return parts.join("&");
  }

  function viewFromAddress() {
    const params = new URLSearchParams(location.hash.slice(1));
    let q = params.get("q") || "";
    // Addresses from before the query phrase: an account's view and an action search.
    const account = params.get("account");
    const search = (params.get("search") || "").trim();
    if (!q && (account || search)) {
      q = [account && "account:" + quote(account), search && quote(search, true)].filter(Boolean).join(" ");
    }
    const range = resolveRange(params.get("range") || "", params.get("since") || "", params.get("until") || "");
    return { view: { q, ...range }, page: Math.max(1, Math.floor(Number(params.get("page"))) || 1) };
  }

  let shownHash = location.hash.slice(1);
  function saveView(push) {
    const hash = viewHash(state.view, state.page);
    if (location.hash.slice(1) !== hash) {
      const url = hash ? "#" + hash : location.pathname;
      if (push) history.pushState(null, "", url);
      else history.replaceState(null, "", url);
    }
    shownHash = location.hash.slice(1);
  }

  // Back, Forward, or an address edited by hand. One step can fire both `popstate`
  // and `hashchange`: the second finds the view already shown.
  function onAddressChange() {
    const hash = location.hash.slice(1);
    if (hash === shownHash) return;
    shownHash = hash;
    closeDetail({ refocus: false });
    closeSuggestions();
    const { view, page } = viewFromAddress();
    $("search").value = view.q;
    renderRange(view);
    load(page, { view, fresh: true });
  }

  // ---- rendering ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "className") node.className = value;
      else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role") node.setAttribute(name, value);
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

  function account(entry) {
    return entry.account_id == null ? el("span", { className: "none" }, "—") : el("span", {}, entry.account_id);
  }

  function shortTime(iso) {
    return iso.slice(0, 10) + " " + iso.slice(11, 19);
  }

  // A value in a row that filters by itself when clicked. Out of the Tab order (a row
  // is one stop; its details offer the same filters to the keyboard).
  function facet(entry, column, content) {
    const text = entryClause(entry, column);
    if (text == null) return content;
    return el("button", { type: "button", className: "facet", tabIndex: -1, "data-clause": text, title: "Filter: " + text },
      content);
  }

  function row(entry) {
    // Cells cut long values short: the title shows them whole on hover.
    const clip = (className, content) => {
      const td = el("td", { className }, content);
      td.title = td.textContent;
      return td;
    };
    // Focusable, so the keyboard reaches each entry (Enter or Space opens it).
    const tr = el("tr", { "data-id": entry.id, tabIndex: 0 },
      el("td", { className: "col-id" }, entry.id),
      el("td", { className: "col-action" }, facet(entry, "action", badge(entry.action))),
      clip("col-actor", facet(entry, "actor", actor(entry))),
      clip("col-resource", facet(entry, "resource", subject(entry.resource_type, entry.resource_id))),
      clip("col-account", facet(entry, "account", account(entry))),
      el("td", { className: "col-time", title: entry.inserted_at }, shortTime(entry.inserted_at)));
    if (state.selected === entry.id) tr.classList.add("selected");
    return tr;
  }

  function renderTable() {
    const body = $("entries").querySelector("tbody");
    body.replaceChildren(...state.entries.map(row));
    $("empty").hidden = state.entries.length > 0;
    $("empty").textContent = !state.loaded && state.phraseError
      ? "Correct the filter above to see entries."
      : hasFilters(state.view) ? "No entries match these filters." : "No entries.";
    renderPager();
  }

  function renderPager() {
    const n = state.totalCount.toLocaleString("en-US");
    const first = state.entries.length ? (state.page - 1) * PER_PAGE + 1 : 0;
    const last = first ? first + state.entries.length - 1 : 0;
    $("summary").textContent = !state.loaded ? ""
      : first
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

  // How a chip reads a clause: `actor` `is` `user:42`, `action` `lacks` `login`; the
  // verb says whether it is negated and is the button that flips it.
  function chipWords(c) {
    if (c.name == null) return ["action", c.negated ? "lacks" : "contains", c.value];
    if (c.name === "is") return ["actor", c.negated ? "is not" : "is", c.value];
    return [c.name.replace("_", " "), c.negated ? "is not" : "is", c.value];
  }

  // A chip per clause of the phrase shown: what it says, its verb (which negates it)
  // and a button that removes it.
  let chipFocus = null; // { index, className } to focus once the chips are drawn anew
  function renderChips() {
    const list = $("chips");
    list.replaceChildren(...words(state.view.q).map((word, index) => {
      const c = clause(word);
      const [key, verb, value] = chipWords(c);
      const said = key + " " + verb + " " + value;
      const not = el("button", {
        type: "button", className: "chip-not", "data-index": index,
        "aria-label": `${verb}: ${c.negated ? "include" : "exclude"} ${key} ${value} instead`,
        title: c.negated ? "Include instead" : "Exclude instead",
      }, verb);
      const remove = el("button", {
        type: "button", className: "chip-remove", "data-index": index, "aria-label": "Remove filter: " + said, title: "Remove",
      }, "✕");
      return el("li", { className: c.negated ? "chip negated" : "chip", "data-clause": word.text, title: word.text },
        el("span", { className: "chip-key" }, key), not, el("span", { className: "chip-text" }, value), remove);
    }));
    list.hidden = list.children.length === 0;
    if (chipFocus) {
      const buttons = list.querySelectorAll("." + chipFocus.className);
      const target = buttons[Math.min(chipFocus.index, buttons.length - 1)] || $("search");
      target.focus();
      chipFocus = null;
    }
  }

  // A value of a datetime-local input (read as UTC, the time the table shows) from a
  // `since`/`until`, and back.
  function inputTime(value) {
    if (!value) return "";
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value + "T00:00:00";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? "" : date.toISOString().slice(0, 19);
  }

  function paramTime(value) {
    if (!value) return "";
    return (value.length === 16 ? value + ":00" : value) + "Z";
  }

  function renderRange(view = state.view) {
    $("range").value = view.range;
    $("custom-range").hidden = view.range !== "custom";
    if (view.range === "custom") {
      $("since").value = inputTime(view.since);
      $("until").value = inputTime(view.until);
    }
  }

  // The export links download what is shown.
  function renderExport() {
    const params = filterParams(state.view).toString();
    const tail = params ? "&" + params : "";
    $("export-csv").href = withKey("/v1/export?format=csv" + tail);
    $("export-ndjson").href = withKey("/v1/export?format=ndjson" + tail);
  }

  function renderFilters() {
    renderChips();
    renderRange();
    renderExport();
  }

  // A phrase the server refused: its message beside the box, and the phrase with a
  // caret under the character at fault.
  function renderPhraseError() {
    const box = $("phrase-error");
    const input = $("search");
    const error = state.phraseError;
    if (!error) {
      box.hidden = true;
      box.replaceChildren();
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", "search-help");
      return;
    }
    const message = el("span", { className: "phrase-message" },
      error.position ? `Character ${error.position}: ${error.message}` : error.message);
    box.replaceChildren(message);
    if (error.position) {
      // Positions count characters, not UTF-16 units.
      const chars = [...error.phrase];
      const at = Math.min(error.position - 1, chars.length);
      box.append(el("code", { className: "phrase-echo", "aria-hidden": "true" },
        chars.slice(0, at).join(""), el("mark", {}, chars[at] || " "), chars.slice(at + 1).join("")));
      const caret = chars.slice(0, at).join("").length;
      if (input.value === error.phrase) input.setSelectionRange(caret, caret);
    }
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "phrase-error search-help");
  }

  // The server's message names the field and the position: `q: at character 7: …`.
  function phraseError(err, phrase) {
    const m = /^q: (?:at character (\d+): )?([\s\S]*)$/.exec(err.message);
    return {
      phrase,
      position: err.position || (m && m[1] ? Number(m[1]) : null),
      message: m ? m[2] : err.message,
    };
  }

  function notice(message) {
    $("notice").textContent = message || "";
    $("notice").hidden = !message;
  }

  // ---- loading pages -----------------------------------------------------------

  // Loads `page` of `view`; the view becomes the one shown only when the server
  // accepts it, so a refused phrase leaves the list as it was.
  let loading = 0;
  async function load(page, { view = state.view, fresh = false, push = false } = {}) {
    const ticket = ++loading;
    const params = filterParams(view);
    params.set("page", String(page));
    params.set("per_page", String(PER_PAGE));
    if (state.asOf != null && !fresh) params.set("as_of", String(state.asOf));
    try {
      const body = await api(`/v1/entries?${params}`);
      if (ticket !== loading) return;
      Object.assign(state, {
        view,
        page: body.page,
        totalPages: body.total_pages,
        totalCount: body.total_count,
        asOf: body.as_of,
        entries: body.entries,
        loaded: true,
        phraseError: null,
      });
      notice("");
      renderPhraseError();
      renderFilters();
      renderTable();
      saveView(push);
      // A new page starts at its top (the pager sits below the table).
      if (window.scrollY > 0) window.scrollTo(0, 0);
      if (state.live) restartLive();
    } catch (err) {
      if (ticket !== loading) return;
      if (err.status === 422 && err.field === "q") {
        state.phraseError = phraseError(err, view.q);
        notice("");
        renderPhraseError();
        renderTable();
      } else {
        notice(err.message);
      }
    }
  }

  // Shows the view changed by `changes` from its first page, as a new history entry.
  function show(changes, { syncInput = true } = {}) {
    const view = { ...state.view, ...changes };
    if (syncInput) $("search").value = view.q;
    return load(1, { view, fresh: true, push: true });
  }

  function addClause(text) {
    const q = withClause(state.view.q, text);
    if (q !== state.view.q) show({ q });
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
    // Each value offers to filter by it, or to exclude it.
    const filters = (column) => {
      const text = entryClause(entry, column);
      if (text == null) return null;
      return el("span", { className: "detail-filters" },
        el("button", { type: "button", className: "button small", "data-clause": text, "aria-label": "Filter by " + text },
          "Filter"),
        el("button", { type: "button", className: "button small ghost", "data-clause": "-" + text,
          "aria-label": "Exclude " + text }, "Exclude"));
    };
    const fields = [
      ["Action", [badge(entry.action), filters("action")]],
      ["Time", entry.inserted_at],
      ["Actor", [actor(entry), filters("actor")]],
      ["Resource", [subject(entry.resource_type, entry.resource_id), filters("resource")]],
      ["Account", [account(entry), filters("account")]],
      ["Hash", entry.hash ? el("span", { className: "mono" }, entry.hash) : null],
    ].filter(([, v]) => v != null);
    $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, ...[].concat(v))]));
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

  // ---- suggestions -------------------------------------------------------------

  // Qualifiers offered as the first letters of a word are typed; the first six also
  // when nothing is typed yet.
  const QUALIFIERS = [
    ["actor:", "who acted: TYPE:ID"],
    ["resource:", "what it was done to: TYPE:ID"],
    ["account:", "the account"],
    ["action:", "one action, exactly"],
    ["created:", "when: >=DATE, <DATE, A..B"],
    ["is:system", "done by the system"],
    ["actor_type:", "the actor's type"],
    ["actor_id:", "the actor's id"],
    ["resource_type:", "the resource's type"],
    ["resource_id:", "the resource's id"],
  ];

  // Where each kind of value is looked up, and how an answer becomes a clause.
  const LOOKUPS = {
    actor: { path: "/v1/actors", list: "actors", value: (a) => typeAndId(a.type, a.id), label: (a) => a.type + ":" + a.id },
    resource: {
      path: "/v1/resources", list: "resources", value: (r) => typeAndId(r.type, r.id), label: (r) => r.type + ":" + r.id,
    },
    actor_type: { path: "/v1/actor_types", list: "types", value: (t) => quote(t.type), label: (t) => t.type },
    resource_type: { path: "/v1/resource_types", list: "types", value: (t) => quote(t.type), label: (t) => t.type },
    account: { path: "/v1/accounts", list: "accounts", value: (a) => quote(a.account_id), label: (a) => a.account_id },
    action: { path: "/v1/actions", list: "actions", value: (a) => quote(a.action), label: (a) => a.action },
  };

  const suggest = { items: [], active: -1, timer: null, ticket: 0, word: null };

  function closeSuggestions() {
    suggest.items = [];
    suggest.active = -1;
    $("suggestions").hidden = true;
    $("search").setAttribute("aria-expanded", "false");
    $("search").removeAttribute("aria-activedescendant");
  }

  function highlight(text, term) {
    const i = term ? text.toLowerCase().indexOf(term.toLowerCase()) : -1;
    if (i < 0) return [text];
    return [text.slice(0, i), el("mark", {}, text.slice(i, i + term.length)), text.slice(i + term.length)];
  }

  function renderSuggestions() {
    const list = $("suggestions");
    list.replaceChildren(...suggest.items.map((s, i) => {
      const li = el("li", { role: "option", id: "suggestion-" + i, "data-index": i },
        el("span", { className: "label" }, s.prefix ? el("span", { className: "kind" }, s.prefix) : null,
          ...highlight(s.label, s.term)),
        s.count != null
          ? el("span", { className: "count" }, s.count.toLocaleString("en-US"))
          : el("span", { className: "hint" }, s.hint));
      if (i === suggest.active) li.classList.add("active");
      li.setAttribute("aria-selected", String(i === suggest.active));
      return li;
    }));
    list.hidden = suggest.items.length === 0;
    $("search").setAttribute("aria-expanded", String(!list.hidden));
    if (suggest.active >= 0) {
      $("search").setAttribute("aria-activedescendant", "suggestion-" + suggest.active);
      $("suggestion-" + suggest.active).scrollIntoView({ block: "nearest" });
    } else {
      $("search").removeAttribute("aria-activedescendant");
    }
  }

  // A lookup's answer within the rest of the phrase and the time range (counts are
  // counted there); without them when the rest does not parse yet.
  async function lookup(path, term, rest) {
    const params = new URLSearchParams({ q: term, limit: String(SUGGEST_LIMIT) });
    if (rest) {
      const filter = filterParams({ ...state.view, q: rest });
      for (const [name, value] of filter) params.set(name === "q" ? "filter" : name, value);
    }
    try {
      return await api(`${path}?${params}`);
    } catch (err) {
      if (rest && err.status >= 400 && err.status < 500 && err.status !== 401) return lookup(path, term, "");
      throw err;
    }
  }

  const dateDaysAgo = (days) => new Date(Date.now() - days * 24 * 3600e3).toISOString().slice(0, 10);

  // What to offer for the word at the caret: qualifiers while its name is typed (and
  // actions the word would match), values once the name ends with `:`.
  async function suggestionsFor(word, rest) {
    const c = clause(word);
    const neg = c.negated || word.text === "-" ? "-" : "";
    if (c.name == null) {
      const typed = word.text === "-" ? "" : c.value;
      const pool = typed ? QUALIFIERS : QUALIFIERS.slice(0, 6);
      const items = pool
        .filter(([q]) => q.startsWith(typed.toLowerCase()) && q !== typed)
        .map(([q, hint]) => ({ label: neg + q, term: neg + typed, hint, insert: neg + q, final: !q.endsWith(":") }));
      if (!typed && !neg) items.push({ label: "-", hint: "exclude: -action:user.login", insert: "-", final: false });
      if (typed) {
        const body = await lookup(LOOKUPS.action.path, typed, rest);
        for (const a of body.actions) {
          items.push({ prefix: neg + "action:", label: a.action, term: typed, count: a.count,
            insert: neg + "action:" + quote(a.action), final: true });
        }
      }
      return items;
    }
    const value = c.value;
    const start = neg + c.name + ":";
    const source = LOOKUPS[c.name];
    if (source) {
      const body = await lookup(source.path, value, rest);
      return body[source.list].map((x) => ({
        prefix: start, label: source.label(x), term: value, count: x.count, insert: start + source.value(x), final: true,
      }));
    }
    if (c.name === "is") {
      return "system".startsWith(value) ? [{ label: start + "system", hint: "done by the system", insert: start + "system",
        final: true }] : [];
    }
    if (c.name === "created" && !value) {
      const today = dateDaysAgo(0);
      return [
        [">=" + dateDaysAgo(7), "the last 7 days"],
        [today, "today (UTC)"],
        ["<" + dateDaysAgo(30), "before the last 30 days"],
        [dateDaysAgo(7) + ".." + today, "from one day through another"],
      ].map(([v, hint]) => ({ label: start + v, hint, insert: start + v, final: true }));
    }
    return [];
  }

  async function fetchSuggestions() {
    const input = $("search");
    const phrase = input.value;
    const caret = input.selectionStart == null ? phrase.length : input.selectionStart;
    const all = words(phrase);
    const word = all.find((w) => w.start <= caret && caret <= w.end) || { start: caret, end: caret, text: "", pieces: [] };
    const rest = all.filter((w) => w !== word).map((w) => w.text).join(" ");
    const ticket = ++suggest.ticket;
    let items;
    try {
      items = await suggestionsFor(word, rest);
    } catch {
      items = []; // suggestions are a convenience: the list itself reports errors
    }
    if (ticket !== suggest.ticket || document.activeElement !== input || input.value !== phrase) return;
    suggest.word = word;
    suggest.items = items;
    suggest.active = -1;
    // Which phrase the list answers, so a reader (or a test) can tell a list
    // still showing for an earlier phrase from the current one.
    $("suggestions").dataset.phrase = phrase;
    renderSuggestions();
  }

  function scheduleSuggestions(delay = SUGGEST_DELAY_MS) {
    clearTimeout(suggest.timer);
    suggest.timer = setTimeout(fetchSuggestions, delay);
  }

  // Applies what the box says.
  function apply() {
    clearTimeout(suggest.timer);
    suggest.ticket++;
    closeSuggestions();
    show({ q: $("search").value.trim() }, { syncInput: false });
  }

  // A suggestion replaces the word it was made for; a whole clause is applied at
  // once, a qualifier waits for its value.
  function pick(item) {
    const input = $("search");
    const phrase = input.value;
    const before = phrase.slice(0, suggest.word.start);
    const after = phrase.slice(suggest.word.end);
    const text = item.insert + (item.final && !/^\s/.test(after) ? " " : "");
    input.value = before + text + after;
    const caret = before.length + text.length;
    input.setSelectionRange(caret, caret);
    if (item.final) apply();
    else scheduleSuggestions(0);
  }

  function onSearchKey(event) {
    const open = !$("suggestions").hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!open) return;
      event.preventDefault();
      const n = suggest.items.length;
      suggest.active = event.key === "ArrowDown" ? (suggest.active + 1) % n : (suggest.active - 1 + n) % n;
      renderSuggestions();
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (open && suggest.active >= 0) pick(suggest.items[suggest.active]);
      else apply();
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        suggest.ticket++;
        closeSuggestions();
      }
    }
  }

  // ---- log streams ---------------------------------------------------------------

  // Sinks are for admin keys (or a server without keys): the button shows once the
  // server lets this browser list them, and the panel refreshes while it is open.
  let streamsTimer = null;
  let streamsOpener = null;

  async function probeStreams() {
    const response = await fetch("/v1/sinks", { headers: authHeaders() }).catch(() => null);
    $("streams-button").hidden = !(response && response.ok);
  }

  const ago = (time) => {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
    return s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h"
      : Math.round(s / 86400) + " d";
  };

  function sinkTarget(sink) {
    const s = sink.settings || {};
    if (sink.kind === "webhook") return (s.format && s.format !== "standard" ? s.format + " " : "webhook ") + s.url;
    if (sink.kind === "nats") return "nats " + s.url + " " + s.subject;
    if (sink.kind === "s3") return "s3://" + s.bucket + "/" + (s.prefix || "");
    return sink.kind;
  }

  function renderSinks(sinks) {
    if (sinks.length === 0) {
      $("sinks").replaceChildren(el("li", { className: "hint" }, "No sinks yet: add one with hawk sinks add."));
      return;
    }
    $("sinks").replaceChildren(...sinks.map((sink) => {
      const state = sink.state === "paused" ? "paused" : sink.failures > 0 ? "failing" : "active";
      const lag = sink.lag.entries === 0 ? "up to date"
        : sink.lag.entries.toLocaleString("en-US") + " entries owed, oldest " + ago(sink.lag.oldest) + " ago";
      return el("li", { className: "sink" },
        el("div", { className: "sink-head" },
          el("span", { className: "sink-name" }, sink.name),
          el("span", { className: "sink-state " + state }, state)),
        el("p", { className: "sink-target" }, sinkTarget(sink) + (sink.query ? " · " + sink.query : "")),
        el("p", { className: "sink-lag" }, "cursor " + sink.cursor.toLocaleString("en-US") + " · " + lag),
        sink.failures > 0 && sink.last_error
          ? el("p", { className: "sink-error" }, sink.failures + " failed: " + sink.last_error)
          : null);
    }));
  }

  async function refreshStreams() {
    try {
      renderSinks((await api("/v1/sinks")).sinks);
    } catch (err) {
      $("sinks").replaceChildren(el("li", { className: "sink-error" }, err.message));
    }
  }

  function openStreams() {
    streamsOpener = document.activeElement;
    $("streams").hidden = false;
    $("streams-close").focus();
    refreshStreams();
    clearInterval(streamsTimer);
    streamsTimer = setInterval(refreshStreams, 5000);
  }

  function closeStreams() {
    $("streams").hidden = true;
    clearInterval(streamsTimer);
    streamsTimer = null;
    if (streamsOpener && streamsOpener.isConnected) streamsOpener.focus();
    streamsOpener = null;
  }

  // ---- the live tail -----------------------------------------------------------

  // The server sends only entries within the filters shown.
  function onLiveEntry(event) {
    const entry = JSON.parse(event.data);
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
    const params = filterParams(state.view);
    if (state.asOf != null) params.set("after", String(state.asOf));
    const query = params.toString();
    const source = new EventSource(withKey("/v1/stream" + (query ? "?" + query : "")));
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
    search.addEventListener("input", () => scheduleSuggestions());
    search.addEventListener("focus", () => scheduleSuggestions());
    search.addEventListener("click", () => scheduleSuggestions());
    search.addEventListener("keydown", onSearchKey);
    // The caret moved to another word: suggest for that one.
    search.addEventListener("keyup", (e) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) scheduleSuggestions();
    });
    search.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
    search.addEventListener("search", () => {
      if (!search.value) apply();
    });
    $("search-form").addEventListener("submit", (e) => e.preventDefault());
    $("suggestions").addEventListener("mousedown", (e) => {
      const li = e.target.closest("li");
      if (li) {
        e.preventDefault();
        pick(suggest.items[Number(li.dataset.index)]);
      }
    });

    $("entries").addEventListener("click", (e) => {
      const value = e.target.closest("[data-clause]");
      if (value) {
        closeDetail({ refocus: false });
        addClause(value.dataset.clause);
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
      const value = e.target.closest("[data-clause]");
      if (value) {
        closeDetail({ refocus: false });
        addClause(value.dataset.clause);
      }
    });
    $("detail-close").addEventListener("click", () => closeDetail());
    $("streams-button").addEventListener("click", () => ($("streams").hidden ? openStreams() : closeStreams()));
    $("streams-close").addEventListener("click", () => closeStreams());

    $("chips").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-index]");
      if (!button) return;
      const index = Number(button.dataset.index);
      const remove = button.classList.contains("chip-remove");
      chipFocus = { index, className: button.className };
      show({ q: remove ? withoutWord(state.view.q, index) : negatedWord(state.view.q, index) });
    });

    $("range").addEventListener("change", () => {
      const range = $("range").value;
      if (range !== "custom") {
        show(resolveRange(range));
        return;
      }
      // Custom starts from what is shown; the dates apply as they are set.
      $("custom-range").hidden = false;
      $("since").value = inputTime(state.view.since);
      $("until").value = inputTime(state.view.until);
      if (state.view.since || state.view.until) show({ range: "custom" });
      else state.view.range = "custom";
    });
    for (const id of ["since", "until"]) {
      $(id).addEventListener("change", () => {
        show({ range: "custom", since: paramTime($("since").value), until: paramTime($("until").value) });
      });
    }

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
      renderExport();
      renderKeyButton();
      probeStreams();
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
        else if (!$("streams").hidden) closeStreams();
      } else if (e.key === "/" && !e.target.closest("input, select, textarea") && $("key-dialog").hidden) {
        e.preventDefault();
        search.focus();
      }
    });
  }

  wire();
  renderKeyButton();
  const start = viewFromAddress();
  // Shown as asked even before the server accepts it: a refused phrase stays in the
  // box, beside its error.
  state.view = start.view;
  $("search").value = start.view.q;
  renderRange();
  renderExport();
  load(start.page, { fresh: true });
  probeStreams();
})();
