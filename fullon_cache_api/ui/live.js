"use strict";
// The live page of fullon_cache_api.
//
// Tickers: every update from /stream/tickers, read with fetch() and parsed as Server-Sent Events
// (EventSource cannot send an Authorization header), plus GET /tickers each time the stream
// (re)subscribes, so that nothing written while it was down is missed. The other panels are
// read every few seconds; each says when it fails and keeps its last answer, the others go on.
// A panel the token may not read (403: its scopes or allow-lists) says so and is not asked again
// with that token: each refusal is logged and counted by the API.
// Every URL starts at the app's root path (data-root): the page works standalone and mounted.
// The page is built with DOM calls only: its Content-Security-Policy refuses HTML strings.
(function () {
  const ROOT = document.body.dataset.root || "";
  const TOKEN_KEY = "fullon_cache_api.token";
  const QUIET_S = 60; // a stream silent this long (not even a heartbeat) is taken as dropped
  const MAX_BACKOFF_MS = 30000;
  const MAX_PAGES = 50; // of a listing (1000 items each): a huge cache cannot keep it reading
  const REFRESH_S = refreshSeconds();
  const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 10 });

  let token = readToken();
  let tokenWaiters = [];
  let clockOffsetMs = 0; // the API's clock minus this browser's: ages are the API's ages
  let tickStaleS = 60; // a tick older is stale: the API's max_age, read from /tickers/health

  class ApiError extends Error {
    constructor(status, code, message, sentWith) {
      super(message);
      this.status = status;
      this.code = code;
      this.token = sentWith; // the token the request carried (undefined: not known)
    }
  }

  function refreshSeconds() {
    const asked = Number(new URLSearchParams(location.search).get("refresh"));
    return Number.isFinite(asked) && asked >= 1 && asked <= 3600 ? asked : 5;
  }

  // Requests --------------------------------------------------------------------------------

  function headers(accept) {
    const sent = { Accept: accept };
    if (token) sent.Authorization = "Bearer " + token;
    return sent;
  }

  async function failure(response, sentWith) {
    let error = null;
    try {
      error = (await response.json()).error;
    } catch (_) {
      // not this API's error shape (a proxy, the host app): the status says enough
    }
    // Only the token it was sent with is refused: a late answer to a request sent before the
    // token was given (or changed) must not throw away the one given since.
    if (response.status === 401 && sentWith === token) tokenRefused();
    const message = (error && error.message) || response.statusText || "no answer";
    return new ApiError(response.status, error && error.code, message, sentWith);
  }

  // A successful answer, or an ApiError.
  async function send(path, accept, signal) {
    const sentWith = token;
    let response;
    try {
      response = await fetch(ROOT + path, { headers: headers(accept), cache: "no-store", signal });
    } catch (error) {
      throw signal && signal.aborted ? error : new Error("the API did not answer");
    }
    if (!response.ok) throw await failure(response, sentWith);
    return response;
  }

  async function getJSON(path) {
    return (await send(path, "application/json")).json();
  }

  // An answer whole: a listing's pages followed by their `next_cursor` and joined.
  async function getAll(path) {
    const answer = await getJSON(path);
    let page = answer;
    for (let n = 1; page.next_cursor && n < MAX_PAGES; n++) {
      page = await getJSON(path + "?cursor=" + encodeURIComponent(page.next_cursor));
      answer.items.push(...page.items);
    }
    return answer;
  }

  function describe(error) {
    if (error instanceof ApiError) return error.status + (error.code ? " " + error.code : "") + ": " + error.message;
    return error.message || String(error);
  }

  function isForbidden(error) {
    return error instanceof ApiError && error.status === 403;
  }

  function notAllowed(error) {
    return "Not allowed for this token: " + error.message + ".";
  }

  // The token ------------------------------------------------------------------------------

  const form = document.getElementById("token-form");
  const tokenInput = document.getElementById("token");
  const tokenNote = document.getElementById("token-note");

  function readToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || ""; // this tab only, gone when it closes
    } catch (_) {
      return "";
    }
  }

  function storeToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // storage refused (private mode): the token lives in this page only
    }
  }

  function tokenRefused() {
    const hadOne = token !== "";
    token = "";
    storeToken("");
    if (!form.hidden) return;
    tokenNote.textContent = hadOne ? "That token was refused." : "";
    form.hidden = false;
    tokenInput.focus();
  }

  function tokenGiven() {
    return new Promise((resolve) => tokenWaiters.push(resolve));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = tokenInput.value.trim();
    if (!value) return;
    token = value;
    storeToken(value);
    tokenInput.value = "";
    form.hidden = true;
    const waiting = tokenWaiters;
    tokenWaiters = [];
    waiting.forEach((resolve) => resolve());
    pollAll();
  });

  // Building blocks ------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function number(value) {
    return value === null || value === undefined ? "–" : NUMBER.format(value);
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text; // live regions speak on change only
  }

  function formatAge(s) {
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return Math.floor(s / 86400) + " d";
  }

  // An age cell shows how old `time` is on the API's clock, refreshed every second; with
  // `staleAfter` seconds it also says "stale" (in words, not only in colour) past that.
  function ageCell(time, staleAfter) {
    const cell = el("td", "num age");
    cell.dataset.time = time || "";
    if (staleAfter) cell.dataset.staleAfter = staleAfter;
    return cell;
  }

  function showAge(cell, now) {
    const time = Date.parse(cell.dataset.time);
    if (Number.isNaN(time)) {
      setText(cell, "–");
      return;
    }
    const age = Math.max(0, (now - time) / 1000); // clocks a little apart never show "-0.2 s"
    const limit = Number(cell.dataset.staleAfter);
    const stale = limit > 0 && age > limit;
    setText(cell, formatAge(age) + (stale ? ", stale" : ""));
    if (limit > 0) cell.parentElement.classList.toggle("stale", stale);
  }

  function refreshAges() {
    const now = Date.now() + clockOffsetMs;
    for (const cell of document.querySelectorAll("td[data-time]")) showAge(cell, now);
  }

  function fillRows(tbody, items, cells) {
    const now = Date.now() + clockOffsetMs;
    tbody.replaceChildren(
      ...items.map((item) => {
        const row = el("tr");
        row.append(...cells(item));
        row.querySelectorAll("td[data-time]").forEach((cell) => showAge(cell, now));
        return row;
      })
    );
    tbody.closest("section").querySelector(".empty").hidden = items.length > 0;
  }

  // Polled panels --------------------------------------------------------------------------

  function panel(id, paths, render) {
    const section = document.getElementById(id);
    const updated = section.querySelector(".updated");
    const problem = section.querySelector(".problem");
    let lastRead = null;
    let busy = false;
    let deniedTo = null; // the token this panel was refused to (403)
    return async function poll() {
      if (busy || (deniedTo !== null && deniedTo === token)) return; // asked again with another
      busy = true;
      try {
        render(...(await Promise.all(paths.map(getAll))));
        lastRead = new Date();
        deniedTo = null;
        section.classList.remove("failed", "forbidden");
        setText(problem, "");
        setText(updated, "Read at " + lastRead.toLocaleTimeString());
      } catch (error) {
        if (isForbidden(error)) {
          deniedTo = error.token; // a late answer for a token given before refuses that one only
          section.classList.remove("failed");
          section.classList.add("forbidden");
          setText(problem, notAllowed(error));
          return;
        }
        section.classList.remove("forbidden");
        section.classList.add("failed");
        const shown = lastRead ? " Showing what was read at " + lastRead.toLocaleTimeString() + "." : "";
        setText(problem, "Could not read it: " + describe(error) + "." + shown);
      } finally {
        busy = false;
      }
    };
  }

  function renderProcesses(health, list) {
    const summary = document.getElementById("process-summary");
    const verdict = el("strong", health.healthy ? "badge ok" : "badge bad", health.healthy ? "healthy" : "not healthy");
    const plural = (n, one, many) => n + " " + (n === 1 ? one : many);
    summary.replaceChildren(
      verdict,
      " " + [plural(health.total, "process", "processes"), plural(health.errors, "error", "errors"), health.stale + " stale"].join(", ")
    );
    fillRows(document.getElementById("process-rows"), list.items, (p) => [
      el("td", "", p.component || p.process_id),
      el("td", "", p.process_type || "–"),
      el("td", p.status === "error" ? "bad" : "", p.status || "–"),
      ageCell(p.heartbeat, list.stale_after),
    ]);
  }

  function renderQueues(queues) {
    fillRows(document.getElementById("queue-rows"), queues.items, (q) => [
      el("td", "", q.name),
      el("td", "num", number(q.length)),
    ]);
  }

  function renderAccounts(accounts) {
    fillRows(document.getElementById("account-rows"), accounts.items, (a) => [
      el("td", "", a.ex_id),
      el("td", "num", number(a.currencies)),
      el("td", "num", number(a.positions)),
      ageCell(a.balances_updated_at),
      ageCell(a.positions_updated_at),
    ]);
  }

  const polls = [
    panel("processes", ["/processes/health", "/processes"], renderProcesses),
    panel("queues", ["/orders/queues"], renderQueues),
    panel("accounts", ["/accounts"], renderAccounts),
  ];

  function pollAll() {
    if (form.hidden) polls.forEach((poll) => poll()); // not while waiting for a token
  }

  // Tickers --------------------------------------------------------------------------------

  const tickerRows = document.getElementById("ticker-rows");
  const tickerSection = document.getElementById("tickers");
  const streamState = document.getElementById("stream-state");
  const streamProblem = tickerSection.querySelector(".problem");
  const filter = document.getElementById("ticker-filter");
  const shown = new Map(); // "exchange symbol" -> {tick, row}
  let pending = new Map(); // the newest update of each ticker, until the next paint
  let flushTimer = 0;

  function keyOf(tick) {
    return tick.exchange + " " + tick.symbol;
  }

  function compareTicks(a, b) {
    if (a.exchange !== b.exchange) return a.exchange < b.exchange ? -1 : 1;
    return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0;
  }

  function takeTick(tick) {
    if (tick.time && typeof tick.age_s === "number") {
      clockOffsetMs = Date.parse(tick.time) + tick.age_s * 1000 - Date.now();
    }
    const key = keyOf(tick);
    const held = pending.get(key) || (shown.get(key) || {}).tick;
    // A re-read after a reconnect can race the stream: an older tick never replaces a newer one.
    if (held && held.time && tick.time && Date.parse(tick.time) < Date.parse(held.time)) return;
    pending.set(key, tick);
    if (!flushTimer) flushTimer = setTimeout(flush, 100); // one paint for a burst of updates
  }

  function flush() {
    flushTimer = 0;
    const now = Date.now() + clockOffsetMs;
    let added = false;
    for (const [key, tick] of pending) {
      let entry = shown.get(key);
      if (!entry) {
        const row = el("tr");
        row.dataset.key = key;
        row.append(
          el("td", "exchange", tick.exchange),
          el("td", "symbol", tick.symbol),
          el("td", "num price"),
          el("td", "num bid"),
          el("td", "num ask"),
          el("td", "num age")
        );
        row.hidden = !matches(row);
        entry = { tick, row };
        shown.set(key, entry);
        added = true;
      } else if (entry.tick.price !== tick.price) {
        entry.row.classList.add("changed");
      }
      entry.tick = tick;
      const cells = entry.row.cells;
      setText(cells[2], number(tick.price));
      setText(cells[3], number(tick.bid));
      setText(cells[4], number(tick.ask));
      cells[5].dataset.time = tick.time || "";
      cells[5].dataset.staleAfter = tickStaleS;
      showAge(cells[5], now);
    }
    pending = new Map();
    if (added) {
      const sorted = [...shown.values()].sort((a, b) => compareTicks(a.tick, b.tick));
      tickerRows.append(...sorted.map((entry) => entry.row)); // moves the rows into order
    }
    tickerSection.querySelector(".empty").hidden = shown.size > 0;
  }

  tickerRows.addEventListener("animationend", (event) => event.target.classList.remove("changed"));

  function matches(row) {
    const wanted = filter.value.trim().toLowerCase();
    return !wanted || row.dataset.key.toLowerCase().includes(wanted);
  }

  filter.addEventListener("input", () => {
    for (const row of tickerRows.rows) row.hidden = !matches(row);
  });

  async function loadTickers() {
    try {
      const [answer, health] = await Promise.all([getAll("/tickers"), getJSON("/tickers/health")]);
      tickStaleS = health.max_age;
      answer.items.forEach(takeTick);
      flush();
      setText(streamProblem, "");
    } catch (error) {
      if (isForbidden(error)) return; // the stream says so
      setText(streamProblem, "Could not read the tickers: " + describe(error) + ". Live updates go on.");
    }
  }

  function setState(state, problem) {
    streamState.dataset.state = state;
    const label = { live: "Live", token: "Waiting for a token", forbidden: "Not for this token" };
    setText(streamState, label[state] || "Reconnecting");
    tickerSection.classList.toggle("forbidden", state === "forbidden");
    setText(streamProblem, problem || "");
  }

  // One Server-Sent Event: its type, its data lines joined, its comments.
  function parseEvent(block) {
    const message = { event: "message", data: [], comments: [] };
    for (const raw of block.split("\n")) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line.startsWith(":")) {
        message.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") message.event = value;
      else if (field === "data") message.data.push(value);
    }
    return { event: message.event, data: message.data.join("\n"), comments: message.comments };
  }

  // What one event means; a reason string when the stream ended in order.
  async function handleEvent(message) {
    for (const comment of message.comments) {
      if (comment === "subscribed") {
        // Subscribed: from here no update is missed, so re-read what was written before.
        streamState.dataset.connects = Number(streamState.dataset.connects) + 1;
        setState("live");
        await loadTickers();
      } else if (comment.startsWith("dropped")) {
        await loadTickers(); // this page read too slowly and missed updates: catch up
      }
    }
    if (message.event === "ticker") {
      takeTick(JSON.parse(message.data));
    } else if (message.event === "end") {
      return JSON.parse(message.data).reason || "end";
    } else if (message.event === "error") {
      const error = JSON.parse(message.data).error || {};
      throw new ApiError(error.status, error.code, error.message || "stream error");
    }
    return null;
  }

  async function streamOnce() {
    const controller = new AbortController();
    const silence = () => controller.abort(new Error("nothing heard for " + QUIET_S + " s"));
    let watchdog = setTimeout(silence, QUIET_S * 1000);
    try {
      const response = await send("/stream/tickers", "text/event-stream", controller.signal);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the connection closed");
        clearTimeout(watchdog);
        watchdog = setTimeout(silence, QUIET_S * 1000);
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const message = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          const ended = await handleEvent(message);
          if (ended) {
            controller.abort();
            return ended;
          }
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  async function follow() {
    let backoff = 1000;
    for (;;) {
      let wait = 0;
      try {
        const reason = await streamOnce(); // the server ended it (max_lifetime, shutdown)
        setState("reconnecting", "");
        streamState.dataset.lastEnd = reason;
        backoff = 1000;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          setState("token", "");
          if (!token) await tokenGiven();
          continue;
        }
        if (isForbidden(error)) {
          setState("forbidden", notAllowed(error));
          if (error.token === token) await tokenGiven(); // not retried with the same token
          continue;
        }
        wait = backoff;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        setState("reconnecting", "Live updates stopped: " + describe(error) + ". Retrying in " + wait / 1000 + " s.");
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  // Start ----------------------------------------------------------------------------------

  setInterval(refreshAges, 1000);
  setInterval(() => {
    if (!document.hidden) pollAll();
  }, REFRESH_S * 1000);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) pollAll();
  });
  pollAll();
  follow();
})();
