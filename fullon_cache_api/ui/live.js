"use strict";
// The live page of fullon_cache_api: one panel per family of the cache.
//
// Live panels follow the API's family streams (/stream/...), read with fetch() and parsed as
// Server-Sent Events (EventSource cannot send an Authorization header), all through one reader
// (follow() below): the stream's `snapshot` is the panel's state, its `upsert`, `delete` and
// `append` events change it, and a reconnect sends the last event's id as Last-Event-ID (the
// API answers a fresh snapshot). Tickers always come by stream (`ticker` events; the rest of a
// listing longer than the snapshot's first page is read from /tickers). The other families
// with a stream: orders, processes (the health summary is counted from the streamed list),
// bots (with blocks and openings), order queues, the chart's bars (/stream/ohlcv), the chart's
// trade tape (/stream/trades) and each shown account's balances and positions (one stream per
// ex_id, the first ACCOUNT_STREAMS of them). What has no stream is read every few seconds
// (?refresh=) from its REST route: the series list, the chart's open orders, the users' trade
// lists, the accounts listing, the tickers' sparklines, and the families not streamed.
//
// How many streams: a browser holds at most 6 HTTP/1.1 connections to a host, shared by all
// its tabs, and a stream holds one for as long as it is open (more would wait for a free one,
// and so would every REST read behind them). Over HTTP/1.1 (the API served bare, as
// `python -m fullon_cache_api` does) the tabs of this origin therefore share SLOTS = 4 stream
// connections (Web Locks, given back when a tab closes; 2 are left for the REST reads), and the
// page streams tickers, orders, processes and bots only (the first tab gets all 4), reading
// queues, candles, trades and accounts by REST; a stream without a slot waits for one, its
// panel read by REST meanwhile. Without Web Locks (not a secure context: plain http to another
// host than localhost) only the tickers stream, one connection per tab. Over HTTP/2 or HTTP/3
// (behind a TLS proxy) one connection carries every stream and the page streams every family:
// at most 7 + ACCOUNT_STREAMS = 10, so two tabs stay within the API's default 20 streams per
// client address (FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT; 40 per token).
// `?streams=orders,queues,...` names the families streamed (besides tickers) instead;
// `?streams=none` streams tickers only.
// Each panel says when it fails and keeps its last state; the others go on. A stream that
// fails is opened again after 1, 2, 4... 30 s. A read the token may not make (403: its scopes
// or allow-lists) is not asked again with that token (each refusal is logged and counted by
// the API), nor is the REST twin of a stream refused, and its panel says why. The orders
// stream follows the first 1000 orders (its twin's first page; the summary says so past it).
// Every URL starts at the app's root path (data-root): the page works standalone and mounted.
// The page is built with DOM calls only: its Content-Security-Policy refuses HTML strings.
(function () {
  const ROOT = document.body.dataset.root || "";
  const PARAMS = new URLSearchParams(location.search);
  const TOKEN_KEY = "fullon_cache_api.token";
  const QUIET_S = 60; // a stream silent this long (not even a heartbeat) is taken as dropped
  const MAX_BACKOFF_MS = 30000;
  const MAX_PAGES = 50; // of a listing (1000 items each): a huge cache cannot keep it reading
  const TICKER_PAGE = 50; // ticker rows shown at once (the others wait on the pager)
  const SPARK_BARS = 60; // one-minute closes in a ticker's sparkline
  const CHART_BARS = boundedParam("bars", 10, 10000, 1000); // bars the chart loads
  const ORDER_ROWS = 200; // most order rows drawn
  const ACCOUNT_DETAILS = 20; // accounts whose balances and positions are read
  const QUEUE_SAMPLES = 60; // lengths kept per queue, one each QUEUE_SAMPLE_S: 5 minutes
  const QUEUE_SAMPLE_S = 5;
  const TAPE_ROWS = 12; // trades in the tape (the chart marks up to TAPE_KEPT)
  const TAPE_KEPT = 50;
  const ACCOUNT_STREAMS = 3; // accounts whose balances and positions are streamed
  const REFRESH_S = boundedParam("refresh", 1, 3600, 5);
  const FAMILIES = ["orders", "processes", "bots", "queues", "candles", "trades", "accounts"];
  const MULTIPLEXED = ["h2", "h3"].includes(protocol()); // one connection carries every stream
  const STREAMED = streamedFamilies();
  const SLOTS = 4; // streams open at once over HTTP/1.1 by all tabs of this browser (of 6)
  const SLOT_RETRY_MS = 5000;
  const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 10 });
  const AMOUNT = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 }); // volumes
  const PERCENT = new Intl.NumberFormat(undefined, {
    style: "percent",
    maximumFractionDigits: 2,
    minimumFractionDigits: 2,
    signDisplay: "exceptZero",
  });
  const SVG = "http://www.w3.org/2000/svg"; // a namespace name: nothing is fetched from it

  let token = readToken();
  let tokenWaiters = [];
  let clockOffsetMs = 0; // the API's clock minus this browser's: ages are the API's ages
  let tickStaleS = 60; // a tick older is stale: the API's max_age, read from /tickers/health
  const refused = new Map(); // path -> [the token it was refused to, the ApiError]

  class ApiError extends Error {
    constructor(status, code, message, sentWith) {
      super(message);
      this.status = status;
      this.code = code;
      this.token = sentWith; // the token the request carried (undefined: not known)
    }
  }

  // The families streamed besides tickers: ?streams= when given, else as many as the protocol
  // lets one tab hold (see the header).
  function streamedFamilies() {
    const asked = PARAMS.get("streams");
    if (asked !== null) return new Set(asked.split(",").filter((name) => FAMILIES.includes(name)));
    return new Set(MULTIPLEXED ? FAMILIES : ["orders", "processes", "bots"]);
  }

  function protocol() {
    const navigation = performance.getEntriesByType("navigation")[0];
    return (navigation && navigation.nextHopProtocol) || "";
  }

  function boundedParam(name, least, most, otherwise) {
    const asked = Number(PARAMS.get(name));
    return Number.isFinite(asked) && asked >= least && asked <= most ? asked : otherwise;
  }

  // Requests --------------------------------------------------------------------------------

  // A route of the table with its parameters filled in (each encoded), and a query string.
  function path(template, values, query) {
    let filled = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(values[name]));
    const pairs = Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null);
    if (pairs.length) filled += "?" + new URLSearchParams(pairs).toString();
    return filled;
  }

  function headers(accept, more) {
    const sent = { Accept: accept, ...more };
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

  // A successful answer, or an ApiError. A path refused (403) to the current token is not
  // asked again: its refusal is given back at once.
  async function send(target, accept, signal, more) {
    const sentWith = token;
    const known = refused.get(target);
    if (known && known[0] === sentWith) throw known[1];
    let response;
    try {
      response = await fetch(ROOT + target, { headers: headers(accept, more), cache: "no-store", signal });
    } catch (error) {
      throw signal && signal.aborted ? error : new Error("the API did not answer");
    }
    if (!response.ok) {
      const error = await failure(response, sentWith);
      if (error.status === 403) refused.set(target, [sentWith, error]);
      throw error;
    }
    return response;
  }

  async function getJSON(target) {
    return (await send(target, "application/json")).json();
  }

  // An answer whole: a listing's pages followed by their `next_cursor` and joined.
  async function getAll(target, most) {
    const answer = await getJSON(target);
    const join = target.includes("?") ? "&" : "?";
    let page = answer;
    for (let n = 1; page.next_cursor && n < (most || MAX_PAGES); n++) {
      page = await getJSON(target + join + "cursor=" + encodeURIComponent(page.next_cursor));
      answer.items.push(...page.items);
    }
    return answer;
  }

  // An answer, or null when the token may not read it (a panel shows the rest).
  async function ifAllowed(read) {
    try {
      return await read();
    } catch (error) {
      if (isForbidden(error)) return null;
      throw error;
    }
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

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function number(value) {
    return value === null || value === undefined ? "–" : NUMBER.format(value);
  }

  function amount(value) {
    return typeof value === "number" ? AMOUNT.format(value) : number(value);
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

  function clockTime(time) {
    const moment = typeof time === "number" ? new Date(time) : new Date(Date.parse(time));
    return Number.isNaN(moment.getTime()) ? "–" : moment.toLocaleTimeString([], { hour12: false });
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
    for (const cell of document.querySelectorAll("td[data-time]")) {
      if (!cell.parentElement.hidden) showAge(cell, now); // a ticker on another page: when shown
    }
  }

  // Clicking a row (or Enter on it) shows the record it stands for as formatted JSON.
  const records = new WeakMap(); // row -> [title, record]
  const dialog = document.getElementById("record");

  function withRecord(row, title, record) {
    records.set(row, [title, record]);
    row.tabIndex = 0;
    row.classList.add("record");
    return row;
  }

  function showRecord(row) {
    const held = records.get(row);
    if (!held) return;
    setText(document.getElementById("record-title"), held[0]);
    document.getElementById("record-json").textContent = JSON.stringify(held[1], null, 2);
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    const row = event.target.closest && event.target.closest("tr.record");
    if (row) showRecord(row);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches && event.target.matches("tr.record")) {
      showRecord(event.target);
    }
  });
  document.getElementById("record-close").addEventListener("click", () => dialog.close());

  function fillRows(tbody, items, cells, title) {
    const now = Date.now() + clockOffsetMs;
    tbody.replaceChildren(
      ...items.map((item) => {
        const row = el("tr");
        row.append(...cells(item));
        row.querySelectorAll("td[data-time]").forEach((cell) => showAge(cell, now));
        return title ? withRecord(row, title(item), item) : row;
      })
    );
    const section = tbody.closest("section"); // none for a table not yet in the page
    const empty = section && section.querySelector(":scope > .empty");
    if (empty && tbody.closest("table").parentElement.closest("section, article") === section) {
      empty.hidden = items.length > 0;
    }
  }

  // A line of `values` (oldest first) in a small SVG, `width` x `height` user units.
  function sparkline(values, width, height, className) {
    const picture = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      class: "spark " + (className || ""),
      "aria-hidden": "true",
      preserveAspectRatio: "none",
    });
    const finite = values.filter((v) => Number.isFinite(v));
    if (finite.length < 2) return picture;
    const low = Math.min(...finite);
    const span = Math.max(...finite) - low || 1;
    const step = width / (values.length - 1);
    const points = values
      .map((v, i) => (Number.isFinite(v) ? `${(i * step).toFixed(1)},${(height - 1 - ((v - low) / span) * (height - 2)).toFixed(1)}` : null))
      .filter(Boolean);
    picture.append(svg("polyline", { points: points.join(" "), fill: "none", "vector-effect": "non-scaling-stroke" }));
    return picture;
  }

  // Bars of `values` (oldest first, at least 0) in a small SVG.
  function barline(values, width, height) {
    const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "bars", "aria-hidden": "true", preserveAspectRatio: "none" });
    const most = Math.max(1, ...values);
    const step = width / QUEUE_SAMPLES;
    values.forEach((v, i) => {
      const tall = Math.max(v > 0 ? 1 : 0, (v / most) * height);
      const x = width - (values.length - i) * step;
      picture.append(svg("rect", { x: x.toFixed(1), y: (height - tall).toFixed(1), width: Math.max(step - 0.5, 0.5).toFixed(1), height: tall.toFixed(1) }));
    });
    return picture;
  }

  // Panels ---------------------------------------------------------------------------------

  // What a panel says of its sources (its REST reads, its streams), each by name: a refusal
  // wins over a failure; a failed panel keeps its last state and says when it was read.
  const statuses = new Map(); // panel name -> its status
  function statusOf(name) {
    if (statuses.has(name)) return statuses.get(name);
    const section = document.querySelector(`[data-panel="${name}"]`);
    const updated = section.querySelector(".updated");
    const problem = section.querySelector(".problem");
    const problems = new Map(); // source -> ["failed" or "forbidden", text]
    let lastRead = null;
    function show() {
      const kinds = [...problems.values()].map(([kind]) => kind);
      const forbidden = kinds.includes("forbidden");
      section.classList.toggle("forbidden", forbidden);
      section.classList.toggle("failed", !forbidden && kinds.length > 0);
      const texts = [...new Set([...problems.values()].map(([kind, text]) => (forbidden && kind === "failed" ? "" : text)))].filter(Boolean);
      const since = !forbidden && kinds.length && lastRead ? " Showing what was read at " + lastRead.toLocaleTimeString() + "." : "";
      setText(problem, texts.join(" ") + since);
    }
    const status = {
      section,
      ok(source, how) {
        lastRead = new Date();
        if (updated) setText(updated, how + " " + lastRead.toLocaleTimeString());
        if (problems.delete(source)) show();
      },
      failed(source, text) {
        problems.set(source, ["failed", text]);
        show();
      },
      forbidden(source, error) {
        problems.set(source, ["forbidden", notAllowed(error)]);
        show();
      },
      clear(source) {
        if (problems.delete(source)) show();
      },
    };
    statuses.set(name, status);
    return status;
  }

  // A panel read from REST: the function that reads its data, and the one that draws it. The
  // read runs at the refresh interval (and when the page comes back in view).
  function panel(name, read, render) {
    const status = statusOf(name);
    const streamed = () => byStream(streams[name]) && !["candles", "trades", "accounts"].includes(name);
    let busy = false;
    return async function poll() {
      if (busy || streamed()) return; // its stream holds a connection: it reads the panel
      busy = true;
      try {
        const answer = await read();
        if (streamed()) return; // it got one meanwhile: its snapshot is newer
        render(answer);
        status.ok("rest", "Read at");
      } catch (error) {
        if (isForbidden(error)) status.forbidden("rest", error);
        else status.failed("rest", "Could not read it: " + describe(error) + ".");
      } finally {
        busy = false;
      }
    };
  }

  // Streams ----------------------------------------------------------------------------------

  // One Server-Sent Event: its type, its data lines joined, its id (null: none), its comments.
  function parseEvent(block) {
    const message = { event: "message", data: [], id: null, comments: [] };
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
      else if (field === "id") message.id = value;
    }
    return { ...message, data: message.data.join("\n") };
  }

  const RESTART = new Error("restarted"); // an abort's reason: open the stream again at once

  // A stream followed for as long as the page is open. `spec.target()` is its path (null: none
  // yet, waits for restart()); `spec.event(name, data)` takes each event with data (may be
  // async); `spec.state(kind, detail)` hears "live", "token", "forbidden" (the error),
  // "failed" (the error, the wait in ms) and "ended" (the server's reason). `comment(text)`
  // hears the comments. A reconnect to the same path sends the last event's id.
  function follow(spec) {
    const stream = { target: null, lastId: null, controller: null, wake: null, release: null, kind: "starting" };
    const report = (kind, detail, wait) => {
      stream.kind = kind;
      spec.state(kind, detail, wait);
    };
    const letGo = () => {
      if (stream.release) stream.release();
      stream.release = null;
    };
    stream.restart = () => {
      if (stream.controller) stream.controller.abort(RESTART);
      if (stream.wake) stream.wake();
    };
    stream.report = report;
    const waitForRestart = () => new Promise((resolve) => (stream.wake = resolve));
    (async () => {
      let backoff = 1000;
      for (;;) {
        let wait = 0;
        try {
          let target = spec.target();
          if (target === null) {
            letGo();
            await waitForRestart();
            continue;
          }
          if (!stream.release) {
            stream.release = await streamSlot(spec.tickers, () => report("waiting"));
            stream.kind = "connecting";
            target = spec.target(); // it may have changed meanwhile
            if (target === null) continue;
          }
          const reason = await streamOnce(stream, spec, target); // the server ended it
          report("ended", reason);
          backoff = 1000;
        } catch (error) {
          if (stream.controller && stream.controller.signal.reason === RESTART) continue;
          if (error instanceof ApiError && error.status === 401) {
            report("token");
            letGo(); // another tab may have a token
            if (!token) await tokenGiven();
            continue;
          }
          if (isForbidden(error)) {
            report("forbidden", error);
            letGo();
            if (error.token === token) await Promise.race([tokenGiven(), waitForRestart()]); // not with that token
            continue;
          }
          wait = backoff;
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          report("failed", error, wait);
        } finally {
          stream.controller = null;
          stream.wake = null;
        }
        if (wait) await Promise.race([new Promise((resolve) => setTimeout(resolve, wait)), waitForRestart()]);
      }
    })();
    return stream;
  }

  // A connection for a stream. Over HTTP/1.1 a browser opens at most 6 to a host, for all its
  // tabs: the tabs of this origin share SLOTS of them for streams (Web Locks, held while the
  // stream is followed, given back when its tab closes), the others are left for REST reads. A
  // stream waits for a free slot, its panel read by REST meanwhile. Without Web Locks (not a
  // secure context) only the tickers stream, as one connection per tab.
  async function streamSlot(tickers, waiting) {
    const none = () => {};
    if (MULTIPLEXED) return none;
    if (!navigator.locks && !tickers) waiting();
    if (!navigator.locks) return tickers ? none : new Promise(() => {});
    for (let round = 0; ; round++) {
      for (let i = 0; i < SLOTS; i++) {
        const release = await tryLock("fullon_cache_api.stream." + i);
        if (release) return release;
      }
      if (round === 0) waiting(); // its panel is read by REST meanwhile
      await new Promise((resolve) => setTimeout(resolve, SLOT_RETRY_MS * (0.5 + Math.random())));
    }
  }

  function tryLock(name) {
    return new Promise((resolve) => {
      navigator.locks
        .request(name, { ifAvailable: true }, (lock) => {
          if (!lock) return resolve(null);
          return new Promise((release) => resolve(release)); // held until release()
        })
        .catch(() => resolve(null));
    });
  }

  // Whether a stream reads its panel (or the part it streams): unless it waits for a connection.
  // A stream refused (401, 403) or failing keeps it too: its REST twin would be refused as
  // well, and a failed panel keeps its last state.
  function byStream(stream) {
    return Boolean(stream) && stream.kind !== "waiting";
  }

  async function streamOnce(stream, spec, target) {
    const controller = new AbortController();
    stream.controller = controller;
    const silence = () => controller.abort(new Error("nothing heard for " + QUIET_S + " s"));
    let watchdog = setTimeout(silence, QUIET_S * 1000);
    if (target !== stream.target) {
      stream.target = target;
      stream.lastId = null; // another stream: nothing to resume
    }
    try {
      const resume = stream.lastId === null ? {} : { "Last-Event-ID": stream.lastId };
      const response = await send(target, "text/event-stream", controller.signal, resume);
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
          if (message.id !== null) stream.lastId = message.id;
          for (const comment of message.comments) {
            if (comment === "subscribed" || comment.startsWith("subscribed after")) stream.report("live");
            if (spec.comment) await spec.comment(comment);
          }
          if (message.event === "end") {
            controller.abort();
            return JSON.parse(message.data).reason || "end";
          }
          if (message.event === "error") {
            const error = JSON.parse(message.data).error || {};
            throw new ApiError(error.status, error.code, error.message || "stream error");
          }
          if (message.data) await spec.event(message.event, JSON.parse(message.data));
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  // A panel's stream: its state changes shown in the panel, `draw()` called at most once per
  // paint after events (a burst of them is one drawing).
  function panelStream(name, source, target, event, draw) {
    const status = statusOf(name);
    let drawing = 0;
    const redraw = () => {
      if (!drawing) {
        drawing = setTimeout(() => {
          drawing = 0;
          draw();
        }, 50);
      }
    };
    return follow({
      target,
      event: (kind, data) => {
        if (kind === "snapshot" && data.resumed) status.section.dataset.resumed = Number(status.section.dataset.resumed || 0) + 1;
        event(kind, data);
        redraw();
        status.ok(source, "Updated at");
      },
      state: (kind, detail, wait) => {
        status.section.dataset.stream = kind;
        if (kind === "waiting" && polls[name]) setTimeout(polls[name]); // read by REST meanwhile
        if (kind === "live") status.clear("rest");
        if (kind === "live" || kind === "ended" || kind === "token" || kind === "waiting") status.clear(source);
        else if (kind === "forbidden") status.forbidden(source, detail);
        else if (kind === "failed") status.failed(source, "Live updates stopped: " + describe(detail) + ". Retrying in " + wait / 1000 + " s.");
      },
    });
  }

  // Items by their ids: a listing streamed as snapshot, upsert and delete.
  function itemsById(idOf) {
    const items = new Map();
    return {
      items,
      snapshot(list) {
        items.clear();
        list.forEach((item) => items.set(idOf(item), item));
      },
      upsert(item) {
        items.set(idOf(item), item);
      },
      delete(ids) {
        items.delete(idOf(ids));
      },
      list(compare) {
        return [...items.values()].sort(compare);
      },
    };
  }

  function byKeys(...keys) {
    return (a, b) => {
      for (const key of keys) {
        const x = a[key] === null || a[key] === undefined ? "" : String(a[key]);
        const y = b[key] === null || b[key] === undefined ? "" : String(b[key]);
        const numbers = /^\d+$/.test(x) && /^\d+$/.test(y); // ids: 2 before 10
        const order = numbers ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
        if (order) return order;
      }
      return 0;
    };
  }

  // Processes: the health summary, then each process. Streamed, the summary is counted from the
  // list as /processes/health counts it (the same processes, the same stale_after).

  const processState = itemsById((p) => p.process_id);
  let processList = null; // the streamed snapshot's body but its items

  function countHealth(items) {
    const errors = items.filter((p) => p.status === "error").length;
    const stale = items.filter((p) => p.stale).length;
    return { healthy: errors === 0 && stale === 0, total: items.length, errors, stale };
  }

  function takeProcesses(kind, data) {
    if (kind === "snapshot") {
      processState.snapshot(data.items);
      processList = data;
    } else if (kind === "upsert") processState.upsert(data);
    else if (kind === "delete") processState.delete(data);
  }

  function drawProcesses() {
    const items = [...processState.items.values()]; // the snapshot's order, new ones after
    renderProcesses([countHealth(items), { ...processList, items }]);
  }

  function renderProcesses([health, list]) {
    const summary = document.getElementById("process-summary");
    const verdict = el("strong", health.healthy ? "badge ok" : "badge bad", health.healthy ? "healthy" : "not healthy");
    const plural = (n, one, many) => n + " " + (n === 1 ? one : many);
    summary.replaceChildren(
      verdict,
      " " + [plural(health.total, "process", "processes"), plural(health.errors, "error", "errors"), health.stale + " stale"].join(", ")
    );
    fillRows(
      document.getElementById("process-rows"),
      list.items,
      (p) => [
        el("td", "wrap", p.component || p.process_id),
        el("td", "opt", p.process_type || "–"),
        el("td", p.status === "error" ? "bad" : "", p.status || "–"),
        ageCell(p.heartbeat, list.stale_after),
        el("td", "wrap message" + (p.status === "error" ? " bad" : ""), p.message || ""),
      ],
      (p) => "Process " + p.process_id
    );
  }

  // Order queues: the length now, and the lengths this page saw over the last minutes (one
  // sample each QUEUE_SAMPLE_S, the last bar the length now).

  const queueState = itemsById((q) => q.name);
  const queueHistory = new Map(); // name -> [length, ...], oldest first
  let queuesRead = false;

  function takeQueues(kind, data) {
    if (kind === "snapshot") queueState.snapshot(data.items);
    else if (kind === "upsert") queueState.upsert(data);
    else if (kind === "delete") queueState.delete(data);
    queuesRead = true;
  }

  function sampleQueues() {
    if (!queuesRead) return;
    for (const name of queueHistory.keys()) if (!queueState.items.has(name)) queueHistory.delete(name);
    for (const q of queueState.items.values()) {
      const lengths = queueHistory.get(q.name) || [];
      lengths.push(q.length);
      if (lengths.length > QUEUE_SAMPLES) lengths.shift();
      queueHistory.set(q.name, lengths);
    }
    renderQueues();
  }

  function renderQueues() {
    const items = queueState.list(byKeys("name"));
    for (const q of items) {
      const lengths = queueHistory.get(q.name);
      if (lengths) lengths[lengths.length - 1] = q.length;
      else queueHistory.set(q.name, [q.length]);
    }
    fillRows(
      document.getElementById("queue-rows"),
      items,
      (q) => {
        const history = el("td", "history");
        history.append(barline(queueHistory.get(q.name), 120, 20));
        history.title = "lengths over the last " + Math.round((QUEUE_SAMPLES * QUEUE_SAMPLE_S) / 60) + " minutes";
        return [el("td", "wrap", q.name), el("td", "num", number(q.length)), history];
      },
      (q) => "Queue " + q.name
    );
  }

  // Accounts: one row per ex_id, then each account's balances and positions.

  // The listing is read at the refresh interval; the first ACCOUNT_STREAMS accounts' balances
  // and positions come by their streams (when streamed), the others' by REST with the listing.
  const accountStreams = new Map(); // ex_id -> {stream, detail, stopped}
  let lastAccounts = null;

  async function readAccounts() {
    const accounts = await getAll("/accounts");
    const shown = accounts.items.slice(0, ACCOUNT_DETAILS);
    const streamed = new Set(STREAMED.has("accounts") ? shown.slice(0, ACCOUNT_STREAMS).map((a) => String(a.ex_id)) : []);
    for (const [exId, entry] of accountStreams) {
      if (!streamed.has(exId)) {
        entry.stopped = true; // its target is null from now on: it waits, holding no connection
        entry.stream.restart();
        statusOf("accounts").clear("stream " + exId);
        accountStreams.delete(exId);
      }
    }
    for (const exId of streamed) if (!accountStreams.has(exId)) accountStreams.set(exId, followAccount(exId));
    const live = (a) => accountStreams.has(String(a.ex_id)) && byStream(accountStreams.get(String(a.ex_id)).stream);
    const details = await Promise.all(
      shown.map(async (a) =>
        live(a)
          ? { ex_id: a.ex_id, streamed: true }
          : {
              ex_id: a.ex_id,
              balances: a.currencies > 0 ? await getJSON(path("/accounts/{ex_id}/balances", a)) : null,
              positions: a.positions > 0 ? await getJSON(path("/accounts/{ex_id}/positions", a)) : null,
            }
      )
    );
    return [accounts, details];
  }

  function followAccount(exId) {
    const entry = { detail: null, stopped: false };
    const balances = itemsById((b) => b.currency);
    const positions = itemsById((p) => p.symbol);
    let bodies = { balances: null, positions: null }; // the snapshot's, but their items
    const take = (kind, data) => {
      if (kind === "snapshot") {
        bodies = { balances: data.balances, positions: data.positions };
        balances.snapshot(data.balances ? data.balances.items : []);
        positions.snapshot(data.positions ? data.positions.items : []);
      } else if (kind === "balances.upsert") balances.upsert(data);
      else if (kind === "balances.delete") balances.delete(data);
      else if (kind === "positions.upsert") positions.upsert(data);
      else if (kind === "positions.delete") positions.delete(data);
      const body = (held, items, key) => (held || items.items.size ? { ...held, items: items.list(byKeys(key)) } : null);
      entry.detail = { ex_id: exId, balances: body(bodies.balances, balances, "currency"), positions: body(bodies.positions, positions, "symbol") };
    };
    const target = () => (entry.stopped ? null : path("/stream/accounts/{ex_id}", { ex_id: exId }));
    entry.stream = panelStream("accounts", "stream " + exId, target, take, () => lastAccounts && renderAccounts(lastAccounts));
    return entry;
  }

  function detailTable(caption, headings, items, cells, title) {
    const table = el("table", "detail");
    table.append(el("caption", "", caption));
    const head = el("tr");
    headings.forEach(([text, className]) => {
      const th = el("th", className || "", text);
      th.scope = "col";
      head.append(th);
    });
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    table.append(thead, tbody);
    fillRows(tbody, items, cells, title);
    return table;
  }

  function renderAccounts(answer) {
    lastAccounts = answer;
    const [accounts, read] = answer;
    const live = (exId) => {
      const entry = accountStreams.get(String(exId));
      return entry && byStream(entry.stream) ? entry.detail : null;
    };
    const details = read.map((d) => (d.streamed ? live(d.ex_id) : d)).filter(Boolean);
    const counted = (a, list) => {
      const detail = live(a.ex_id); // a streamed account's counts follow its stream
      return detail ? (detail[list] ? detail[list].items.length : 0) : a[list === "balances" ? "currencies" : "positions"];
    };
    fillRows(
      document.getElementById("account-rows"),
      accounts.items,
      (a) => [
        el("td", "", a.ex_id),
        el("td", "num opt", number(counted(a, "balances"))), // a phone has them in the cards below
        el("td", "num opt", number(counted(a, "positions"))),
        ageCell(a.balances_updated_at),
        ageCell(a.positions_updated_at),
      ],
      (a) => "Account " + a.ex_id
    );
    const cards = details.map((d) => {
      const card = el("article", "account");
      card.append(el("h3", "", "ex_id " + d.ex_id));
      if (d.balances) {
        card.append(
          detailTable(
            "Balances",
            [["Currency"], ["Free", "num"], ["Used", "num opt"], ["Total", "num"]],
            d.balances.items,
            (b) => [el("td", "", b.currency), el("td", "num", number(b.free)), el("td", "num opt", number(b.used)), el("td", "num", number(b.total))],
            (b) => `Balance ${b.currency} of ex_id ${d.ex_id}`
          )
        );
      }
      if (d.positions) {
        card.append(
          detailTable(
            "Positions",
            [["Symbol"], ["Volume", "num"], ["Price", "num"], ["Cost", "num opt"], ["Age", "num opt"]],
            d.positions.items,
            (p) => {
              const age = ageCell(p.updated_at);
              age.classList.add("opt");
              return [el("td", "wrap", p.symbol), el("td", "num", number(p.volume)), el("td", "num", number(p.price)), el("td", "num opt", number(p.cost)), age];
            },
            (p) => `Position ${p.symbol} of ex_id ${d.ex_id}`
          )
        );
      }
      return card;
    });
    document.getElementById("account-details").replaceChildren(...cards);
  }

  // Orders: open ones by default, by exchange then id; filters in the panel.

  const orderStatus = document.getElementById("order-status");
  const orderFilter = document.getElementById("order-filter");
  const knownUids = new Set(); // users seen in orders: their trade lists are shown
  let lastOrders = null;
  const orderState = itemsById((o) => o.exchange + " " + o.order_id);
  let ordersCut = false; // the stream follows the first 1000 orders only

  function readOrders() {
    ordersCut = false;
    return getAll(path("/orders", {}, { status: orderStatus.value || undefined, limit: 1000 }), 5);
  }

  function ordersStream() {
    return path("/stream/orders", {}, { status: orderStatus.value || undefined, limit: 1000 });
  }

  function takeOrders(kind, data) {
    if (kind === "snapshot") {
      orderState.snapshot(data.items);
      ordersCut = Boolean(data.next_cursor);
    } else if (kind === "upsert") orderState.upsert(data);
    else if (kind === "delete") orderState.delete(data);
  }

  function drawOrders() {
    renderOrders({ items: orderState.list(byKeys("exchange", "order_id")) });
  }

  function renderOrders(orders) {
    lastOrders = orders;
    orders.items.forEach((o) => o.uid && knownUids.add(o.uid));
    const wanted = orderFilter.value.trim().toLowerCase();
    const shown = orders.items.filter(
      (o) => !wanted || [o.exchange, o.symbol, o.bot_id && "bot " + o.bot_id, o.side].some((v) => v && v.toLowerCase().includes(wanted))
    );
    const byExchange = new Map();
    shown.forEach((o) => byExchange.set(o.exchange, (byExchange.get(o.exchange) || 0) + 1));
    const parts = [...byExchange].map(([exchange, n]) => exchange + " " + n);
    const cut = (shown.length > ORDER_ROWS ? ` (the first ${ORDER_ROWS} shown)` : "") + (ordersCut ? ", of the first 1000 followed" : "");
    setText(document.getElementById("order-summary"), shown.length + " orders" + (parts.length ? ": " + parts.join(", ") : "") + cut);
    fillRows(
      document.getElementById("order-rows"),
      shown.slice(0, ORDER_ROWS),
      (o) => [
        el("td", "opt", o.exchange), // a phone has the summary above: exchange by exchange
        el("td", "wrap", o.symbol || "–"),
        el("td", o.side === "sell" ? "sell" : "buy", o.side || "–"),
        el("td", "num", number(o.price)),
        el("td", "num", amount(o.volume)),
        el("td", "opt", o.status || "–"),
        el("td", "num opt", o.bot_id || "–"),
        ageCell(o.updated_at),
      ],
      (o) => `Order ${o.order_id} on ${o.exchange}`
    );
  }

  orderFilter.addEventListener("input", () => lastOrders && renderOrders(lastOrders));
  orderStatus.addEventListener("change", () => {
    if (streams.orders) streams.orders.restart();
    polls.orders(); // unless its stream is live
  });

  // Bots: each bot's feeds as stored, what it holds (blocks, openings), the age of its update.

  function readBots() {
    return Promise.all([getAll("/bots"), ifAllowed(() => getJSON("/bots/coordination"))]);
  }

  const botState = itemsById((b) => b.bot_id);
  const pairId = (b) => b.ex_id + ":" + b.symbol;
  const blockState = itemsById(pairId);
  const openingState = itemsById(pairId);
  let coordinated = false; // the snapshot had the coordination (not too large to read)

  function takeBots(kind, data) {
    if (kind === "snapshot") {
      botState.snapshot(data.bots.items);
      coordinated = Boolean(data.coordination && data.coordination.blocks);
      blockState.snapshot(coordinated ? data.coordination.blocks : []);
      openingState.snapshot(coordinated ? data.coordination.openings : []);
      return;
    }
    const [list, change] = kind.split(".");
    const state = { bots: botState, blocks: blockState, openings: openingState }[list];
    if (state && (change === "upsert" || change === "delete")) state[change](data);
  }

  function drawBots() {
    const coordination = coordinated ? { blocks: blockState.list(byKeys("ex_id", "symbol")), openings: openingState.list(byKeys("ex_id", "symbol")) } : null;
    renderBots([{ items: botState.list(byKeys("bot_id")) }, coordination]);
  }

  function reports(feed) {
    const skip = new Set(["status", "pnl", "timestamp"]);
    return Object.entries(feed)
      .filter(([name]) => !skip.has(name))
      .map(([name, value]) => name + ": " + (Array.isArray(value) ? value.join(", ") : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)))
      .join(" · ");
  }

  function renderBots([bots, coordination]) {
    const holds = new Map(); // bot_id -> ["1:BTC/USDT", "opening 1:ETH/USDT"]
    const hold = (bot, text) => holds.set(bot, [...(holds.get(bot) || []), text]);
    if (coordination) {
      coordination.blocks.forEach((b) => hold(b.bot_id, "block " + b.ex_id + ":" + b.symbol));
      coordination.openings.forEach((o) => hold(o.bot_id, "opening " + o.ex_id + ":" + o.symbol));
    }
    const rows = [];
    for (const bot of bots.items) {
      const feeds = Object.entries(bot.feeds || {});
      if (!feeds.length) feeds.push(["–", {}]);
      feeds.forEach(([name, feed]) => rows.push({ bot, name, feed: feed && typeof feed === "object" ? feed : { value: feed } }));
    }
    fillRows(
      document.getElementById("bot-rows"),
      rows,
      ({ bot, name, feed }) => {
        const pnl = typeof feed.pnl === "number" ? feed.pnl : null;
        return [
          el("td", "num", bot.bot_id),
          el("td", "opt", name),
          el("td", feed.status === "error" ? "bad" : "", feed.status === undefined ? "–" : String(feed.status)),
          el("td", "num " + (pnl > 0 ? "up" : pnl < 0 ? "down" : ""), pnl === null ? "–" : NUMBER.format(pnl)),
          el("td", "wrap opt", reports(feed)),
          el("td", "wrap", (holds.get(bot.bot_id) || []).join(", ") || "–"),
          ageCell(typeof feed.timestamp === "string" ? feed.timestamp : bot.updated_at),
        ];
      },
      ({ bot }) => "Bot " + bot.bot_id
    );
  }

  // Candles: a candlestick chart of one series, its volume, the symbol's open orders (price
  // lines) and public trades (marks), the last bar following the ticker stream.

  const chart = {
    container: document.getElementById("chart"),
    select: document.getElementById("candle-series"),
    api: null,
    candles: null,
    volume: null,
    marks: null,
    lines: [],
    key: "", // "symbol timeframe" drawn
    symbol: "",
    timeframe: "",
    period: 60,
    bars: [], // {time, open, high, low, close, volume}, ascending, time in seconds
    wanted: "", // "symbol timeframe" its stream reads
    scroll: false, // to the latest bar once drawn
    orders: null, // {key, items}: the open orders of the series `key`
  };

  function timeframeSeconds(timeframe) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000 }[timeframe.slice(-1)];
    return (parseInt(timeframe, 10) || 1) * (unit || 60);
  }

  function themeColour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartTheme() {
    return {
      layout: { background: { color: themeColour("--panel") }, textColor: themeColour("--text"), attributionLogo: false },
      grid: { vertLines: { color: themeColour("--grid") }, horzLines: { color: themeColour("--grid") } },
      rightPriceScale: { borderColor: themeColour("--line") },
      timeScale: { borderColor: themeColour("--line"), timeVisible: true, secondsVisible: false },
    };
  }

  function candleColours() {
    const up = themeColour("--up");
    const down = themeColour("--down");
    return { upColor: up, downColor: down, borderUpColor: up, borderDownColor: down, wickUpColor: up, wickDownColor: down };
  }

  function makeChart() {
    const charts = window.LightweightCharts;
    if (!charts) throw new Error("the chart library did not load");
    chart.api = charts.createChart(chart.container, { autoSize: true, ...chartTheme() });
    chart.candles = chart.api.addSeries(charts.CandlestickSeries, candleColours());
    chart.volume = chart.api.addSeries(charts.HistogramSeries, {
      priceScaleId: "volume",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    chart.api.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    chart.candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    chart.marks = charts.createSeriesMarkers(chart.candles, []);
  }

  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (!chart.api) return;
    chart.api.applyOptions(chartTheme());
    chart.candles.applyOptions(candleColours());
    drawCandles();
  });

  function volumeBar(bar) {
    return { time: bar.time, value: bar.volume, color: bar.close >= bar.open ? themeColour("--up-faint") : themeColour("--down-faint") };
  }

  function drawCandles() {
    chart.candles.setData(chart.bars);
    chart.volume.setData(chart.bars.map(volumeBar));
    chart.container.dataset.bars = chart.bars.length;
  }

  function drawLastBar() {
    const bar = chart.bars[chart.bars.length - 1];
    chart.candles.update(bar);
    chart.volume.update(volumeBar(bar));
    chart.container.dataset.bars = chart.bars.length;
    chart.container.dataset.lastClose = bar.close;
    const last = document.getElementById("candle-last");
    setText(last, "last " + number(bar.close));
  }

  function toBar([ts, open, high, low, close, volume]) {
    return { time: Math.floor(ts / 1000), open, high, low, close, volume: volume || 0 };
  }

  // Bars read from the API replace the ones of the same time, and go after the others.
  function mergeBars(fresh) {
    const bars = chart.bars;
    for (const bar of fresh) {
      while (bars.length && bars[bars.length - 1].time > bar.time) bars.pop(); // a rewritten tail
      if (bars.length && bars[bars.length - 1].time === bar.time) bars[bars.length - 1] = bar;
      else bars.push(bar);
    }
    if (bars.length > 10000) bars.splice(0, bars.length - 10000);
  }

  // The exchange whose ticks and trades go with the chart: the first with a ticker of its symbol.
  function chartExchange() {
    const ticks = [...shown.values()].map((e) => e.tick).filter((t) => t.symbol === chart.symbol);
    ticks.sort(compareTicks);
    return ticks.length ? ticks[0].exchange : null;
  }

  function defaultSeries(series) {
    const wanted = [PARAMS.get("symbol"), "BTC/USDT"];
    const timeframe = PARAMS.get("timeframe") || "1m";
    for (const symbol of wanted) {
      const found = series.find((s) => s.symbol === symbol && s.timeframe === timeframe) || series.find((s) => s.symbol === symbol);
      if (found) return found;
    }
    return series.find((s) => s.timeframe === timeframe) || series[0];
  }

  function fillSeriesChoice(series) {
    const keys = series.map((s) => s.symbol + " " + s.timeframe);
    const have = [...chart.select.options].map((o) => o.value);
    if (keys.join("\n") === have.join("\n")) return;
    const chosen = chart.key;
    chart.select.replaceChildren(...keys.map((key) => new Option(key, key)));
    chart.select.selectedIndex = keys.indexOf(chosen); // -1 (none) until one is drawn
  }

  async function readCandles() {
    const series = (await getAll("/ohlcv")).items;
    fillSeriesChoice(series);
    if (!series.length) return { series };
    if (!chart.select.value) chart.select.value = defaultSeries(series).symbol + " " + defaultSeries(series).timeframe;
    const [symbol, timeframe] = splitKey(chart.select.value);
    const key = symbol + " " + timeframe;
    const orders = await ifAllowed(() => getAll(path("/orders", {}, { symbol, status: "open", limit: 200 }), 1));
    if (streams.candles && chart.wanted !== key) {
      chart.wanted = key; // its stream draws it, once it has a connection
      streams.candles.restart();
    }
    if (byStream(streams.candles)) return { series, key, orders };
    const last = key === chart.key && chart.bars.length ? chart.bars[chart.bars.length - 1].time : null;
    const query = last === null ? { limit: CHART_BARS } : { limit: 10000, since: last * 1000 };
    const bars = await getJSON(path("/ohlcv/{symbol}/{timeframe}", { symbol, timeframe }, query));
    return { series, key, symbol, timeframe, bars, orders, fromScratch: last === null };
  }

  // The chart's bars streamed: the snapshot draws them all, a bar appended or sent again at the
  // end is drawn alone (a 10,000-bar chart is not drawn again for each).
  const chartChanges = { all: false, tail: [] };

  function candlesStream() {
    if (!chart.wanted) return null;
    const [symbol, timeframe] = splitKey(chart.wanted);
    return path("/stream/ohlcv/{symbol}/{timeframe}", { symbol, timeframe }, { limit: CHART_BARS });
  }

  // The last bar as the API last sent it: sent again unchanged (a REST refresh reads the last
  // bar each time) it is no news, and the close the ticks moved since stays.
  let lastSent = "";

  function takeBars(kind, data) {
    if (kind === "snapshot") {
      const key = chart.wanted;
      if (key !== chart.key) startChart(key);
      chart.bars = [];
      mergeBars(data.bars.map(toBar));
      lastSent = chart.bars.length ? JSON.stringify(chart.bars[chart.bars.length - 1]) : "";
      chartChanges.all = true;
      chartChanges.tail = [];
      return;
    }
    const sent = kind === "append" ? data.map(toBar) : kind === "upsert" ? [toBar(data)] : [];
    const fresh = sent.filter((bar) => JSON.stringify(bar) !== lastSent);
    if (sent.length) lastSent = JSON.stringify(sent[sent.length - 1]);
    for (const bar of fresh) {
      const last = chart.bars[chart.bars.length - 1];
      if (!last || bar.time >= last.time) chartChanges.tail.push(bar);
      else chartChanges.all = true; // a bar inside the window changed
    }
    mergeBars(fresh);
  }

  function drawBars() {
    paintBars();
    drawLines();
    drawMarks();
    followTape();
  }

  function paintBars() {
    if (!chart.api) makeChart();
    if (chartChanges.all) {
      drawCandles();
      if (chart.scroll) chart.api.timeScale().scrollToRealTime();
      chart.scroll = false;
    } else {
      for (const bar of chartChanges.tail) {
        chart.candles.update(bar);
        chart.volume.update(volumeBar(bar));
      }
    }
    chartChanges.all = false;
    chartChanges.tail = [];
    if (chart.bars.length) drawLastBar();
  }

  function startChart(key) {
    const [symbol, timeframe] = splitKey(key);
    chart.key = key;
    chart.symbol = symbol;
    chart.timeframe = timeframe;
    chart.period = timeframeSeconds(timeframe);
    chart.bars = [];
    lastSent = "";
    chart.scroll = true;
  }

  function splitKey(key) {
    const cut = key.lastIndexOf(" ");
    return [key.slice(0, cut), key.slice(cut + 1)];
  }

  function renderCandles(answer) {
    const section = chart.container.closest("section");
    section.querySelector(".empty").hidden = answer.series.length > 0;
    if (answer.key) chart.orders = { key: answer.key, items: (answer.orders && answer.orders.items) || [] };
    if (answer.bars) {
      if (!chart.api) makeChart();
      if (answer.fromScratch) startChart(answer.key);
      takeBars("append", answer.bars.bars); // the new ones drawn alone, as the stream's
      if (answer.fromScratch) chartChanges.all = true;
      paintBars();
    }
    if (chart.api) drawLines();
    followTape();
  }

  // The symbol's open orders as dashed price lines.
  function drawLines() {
    chart.lines.forEach((line) => chart.candles.removePriceLine(line));
    const orders = chart.orders && chart.orders.key === chart.key ? chart.orders.items : [];
    chart.lines = orders.map((o) =>
      chart.candles.createPriceLine({
        price: o.price,
        color: themeColour(o.side === "sell" ? "--down" : "--up"),
        lineStyle: 2,
        lineWidth: 1,
        axisLabelVisible: true,
        title: `${o.side || ""} ${number(o.volume)}${o.bot_id ? " bot " + o.bot_id : ""}`,
      })
    );
  }

  // Its public trades (the tape's) as marks on the bar of their time.
  function drawMarks() {
    if (!chart.api) return;
    const marks = [];
    const trades = tape && tape.symbol === chart.symbol ? tape.items : [];
    for (const t of trades) {
      const at = Date.parse(t.time) / 1000;
      const bar = barAt(at);
      if (bar === null) continue;
      const buy = t.side !== "sell";
      marks.push({
        time: bar,
        position: buy ? "belowBar" : "aboveBar",
        shape: buy ? "arrowUp" : "arrowDown",
        color: themeColour(buy ? "--up" : "--down"),
        size: 0.6,
      });
    }
    marks.sort((a, b) => a.time - b.time);
    chart.marks.setMarkers(marks);
  }

  function barAt(seconds) {
    const bars = chart.bars;
    if (!bars.length || !(seconds >= bars[0].time)) return null;
    let low = 0;
    let high = bars.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (bars[middle].time <= seconds) low = middle;
      else high = middle - 1;
    }
    return bars[low].time;
  }

  // A tick of the chart's symbol moves its last bar (or opens the next one).
  function candleTick(tick) {
    if (!chart.api || !chart.bars.length || tick.symbol !== chart.symbol) return;
    if (tick.exchange !== chartExchange() || typeof tick.price !== "number") return;
    const seconds = Date.parse(tick.time) / 1000;
    const last = chart.bars[chart.bars.length - 1];
    if (!(seconds >= last.time)) return; // older than the bar shown: the bars know better
    if (seconds >= last.time + chart.period) {
      const start = last.time + Math.floor((seconds - last.time) / chart.period) * chart.period;
      chart.bars.push({ time: start, open: tick.price, high: tick.price, low: tick.price, close: tick.price, volume: 0 });
    } else {
      last.close = tick.price;
      last.high = Math.max(last.high, tick.price);
      last.low = Math.min(last.low, tick.price);
    }
    drawLastBar();
  }

  chart.select.addEventListener("change", () => {
    chart.key = ""; // drawn from scratch
    polls.candles();
    polls.trades();
  });

  // Trades: the tape of the chart's symbol on its exchange, and the users' trade lists (read at
  // the refresh interval: they have no stream).

  let tape = null; // {exchange, symbol, items}: the newest TAPE_KEPT trades, newest first
  let tapeWanted = null; // the tape stream's path

  function tapeStream() {
    const exchange = chartExchange();
    return exchange && chart.symbol ? path("/stream/trades/{exchange}/{symbol}", { exchange, symbol: chart.symbol }, { limit: TAPE_KEPT }) : null;
  }

  // The tape stream follows the chart's symbol, on the exchange of its first ticker.
  function followTape() {
    if (!streams.trades) return;
    const wanted = tapeStream();
    if (wanted === tapeWanted) return;
    tapeWanted = wanted;
    if (wanted === null) {
      tape = null;
      renderTape();
    }
    streams.trades.restart();
  }

  function takeTape(kind, data) {
    if (kind === "snapshot") tape = data;
    else if (kind === "append" && tape) tape = { ...tape, items: [...data, ...tape.items].slice(0, TAPE_KEPT) };
  }

  function drawTape() {
    renderTape();
    drawMarks();
  }

  async function readTrades() {
    const exchange = chartExchange();
    const symbol = chart.symbol;
    const streamed = byStream(streams.trades);
    const read = exchange && !streamed ? await getJSON(path("/trades/{exchange}/{symbol}", { exchange, symbol }, { limit: TAPE_KEPT })) : null;
    const lists = await Promise.all([...knownUids].sort().map((uid) => ifAllowed(() => getAll(path("/trades/users/{uid}", { uid }), 1))));
    return { tape: streamed ? tape : read, lists: lists.filter(Boolean) };
  }

  function renderTrades(answer) {
    if (!byStream(streams.trades)) tape = answer.tape; // else the stream's, newer
    renderTape();
    drawMarks();
    const rows = answer.lists.flatMap((list) => list.items.map((item) => ({ uid: list.uid, ...item })));
    fillRows(
      document.getElementById("user-trade-rows"),
      rows,
      (r) => [el("td", "", r.uid), el("td", "", r.exchange), el("td", "num", number(r.length))],
      (r) => `Trades of uid ${r.uid} on ${r.exchange}`
    );
  }

  function renderTape() {
    setText(document.getElementById("trades-of"), tape ? `${tape.symbol} on ${tape.exchange}, newest first` : "The chart's symbol has no ticker: no exchange to read trades of.");
    fillRows(
      document.getElementById("trade-rows"),
      tape ? tape.items.slice(0, TAPE_ROWS) : [],
      (t) => [
        el("td", "num", clockTime(t.time)),
        el("td", t.side === "sell" ? "sell" : "buy", t.side || "–"),
        el("td", "num", number(t.price)),
        el("td", "num", amount(t.volume)),
      ],
      (t) => `Trade ${t.trade_id || ""} (${tape.exchange} ${tape.symbol})`
    );
  }

  // Every panel's sources: its stream (when its family is streamed) and its REST reads at the
  // refresh interval (for what has no stream, or all of it when its family is not streamed).
  const SOURCES = {
    candles: readCandles,
    trades: readTrades,
    accounts: readAccounts,
    orders: readOrders,
    bots: readBots,
    processes: () => Promise.all([getJSON("/processes/health"), getAll("/processes")]),
    queues: () => getAll("/orders/queues"),
  };
  const RENDER = {
    candles: renderCandles,
    trades: renderTrades,
    orders: renderOrders,
    bots: renderBots,
    accounts: renderAccounts,
    processes: renderProcesses,
    queues: (answer) => {
      takeQueues("snapshot", answer);
      renderQueues();
    },
  };
  // Each: its path (a function: null while there is none), what its events change, the drawing.
  const STREAMS = {
    orders: [ordersStream, takeOrders, drawOrders],
    processes: [() => "/stream/processes", takeProcesses, drawProcesses],
    bots: [() => path("/stream/bots", {}, { limit: 1000 }), takeBots, drawBots],
    queues: [() => "/stream/orders/queues", takeQueues, renderQueues],
    candles: [candlesStream, takeBars, drawBars],
    trades: [() => tapeWanted, takeTape, drawTape],
  };
  const streams = {};
  const polls = {};
  for (const [name, read] of Object.entries(SOURCES)) polls[name] = panel(name, read, RENDER[name]);
  // The tickers' sparklines are read with the panels; a failure leaves the last ones drawn (the
  // tickers panel speaks for the stream).
  polls.sparklines = async () => {
    try {
      renderSparklines(await readSparklines());
    } catch (_) {
      // shown again at the next refresh
    }
  };

  async function pollAll() {
    if (!form.hidden) return; // not while waiting for a token
    await polls.candles(); // first: the trades panel follows its symbol
    Object.entries(polls).forEach(([name, poll]) => name !== "candles" && poll());
  }

  // Tickers --------------------------------------------------------------------------------

  const tickerRows = document.getElementById("ticker-rows");
  const tickerSection = document.getElementById("tickers");
  const streamState = document.getElementById("stream-state");
  const streamProblem = tickerSection.querySelector(".problem");
  const filter = document.getElementById("ticker-filter");
  const pager = tickerSection.querySelector(".pager");
  const shown = new Map(); // "exchange symbol" -> {tick, row}
  const spark = new Map(); // symbol -> [close, ...] of its last one-minute bars, oldest first
  let pending = new Map(); // the newest update of each ticker, until the next paint
  let flushTimer = 0;
  let tickerPage = 0;

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
          el("td", "exchange wrap", tick.exchange),
          el("td", "symbol wrap", tick.symbol),
          el("td", "num price"),
          el("td", "num opt"),
          el("td", "num opt"),
          el("td", "num opt"),
          el("td", "num opt change"),
          el("td", "opt trend"),
          el("td", "num age")
        );
        entry = { tick, row };
        shown.set(key, entry);
        added = true;
      } else if (entry.tick.price !== tick.price) {
        entry.row.classList.add("changed");
      }
      entry.tick = tick;
      withRecord(entry.row, `Ticker ${tick.symbol} on ${tick.exchange}`, tick);
      const cells = entry.row.cells;
      setText(cells[2], number(tick.price));
      setText(cells[3], number(tick.bid));
      setText(cells[4], number(tick.ask));
      const spread = typeof tick.bid === "number" && typeof tick.ask === "number" ? tick.ask - tick.bid : null;
      setText(cells[5], spread === null ? "–" : number(Number(spread.toPrecision(6))));
      drawTrend(entry);
      cells[8].dataset.time = tick.time || "";
      cells[8].dataset.staleAfter = tickStaleS;
      showAge(cells[8], now);
      candleTick(tick);
    }
    pending = new Map();
    if (added) {
      const sorted = [...shown.values()].sort((a, b) => compareTicks(a.tick, b.tick));
      tickerRows.append(...sorted.map((entry) => entry.row)); // moves the rows into order
      paginate();
      followTape(); // the chart's exchange may be known now
    }
    tickerSection.querySelector(".empty").hidden = shown.size > 0;
  }

  // The change since the first bar of the sparkline's window, and the sparkline.
  function drawTrend(entry) {
    const closes = spark.get(entry.tick.symbol);
    const cells = entry.row.cells;
    if (!closes || !closes.length) {
      setText(cells[6], "–");
      cells[7].replaceChildren();
      return;
    }
    const first = closes[0];
    const price = entry.tick.price;
    const change = typeof price === "number" && first ? (price - first) / first : null;
    setText(cells[6], change === null ? "–" : PERCENT.format(change));
    cells[6].className = "num opt change " + (change > 0 ? "up" : change < 0 ? "down" : "");
    const values = typeof price === "number" ? [...closes.slice(1), price] : closes;
    cells[7].replaceChildren(sparkline(values, 120, 24, change < 0 ? "down" : "up"));
  }

  // Sparklines: the last hour of one-minute closes of the symbols on the shown page of tickers.
  async function readSparklines() {
    const symbols = new Set([...shown.values()].filter((e) => !e.row.hidden).map((e) => e.tick.symbol));
    if (!symbols.size) return [];
    const series = (await getAll("/ohlcv")).items.filter((s) => s.timeframe === "1m" && symbols.has(s.symbol));
    return Promise.all(
      series.map(async (s) => [s.symbol, (await getJSON(path("/ohlcv/{symbol}/{timeframe}", s, { limit: SPARK_BARS }))).bars])
    );
  }

  function renderSparklines(found) {
    for (const [symbol, bars] of found) spark.set(symbol, bars.map((bar) => bar[4]));
    for (const entry of shown.values()) if (!entry.row.hidden) drawTrend(entry);
  }

  tickerRows.addEventListener("animationend", (event) => event.target.closest("tr").classList.remove("changed"));

  function matches(row) {
    const wanted = filter.value.trim().toLowerCase();
    return !wanted || row.dataset.key.toLowerCase().includes(wanted);
  }

  // Only one page of the rows that match the filter is shown: a thousand tickers stay light.
  function paginate() {
    const matching = [...tickerRows.rows].filter(matches);
    const pages = Math.max(1, Math.ceil(matching.length / TICKER_PAGE));
    tickerPage = Math.min(tickerPage, pages - 1);
    const first = tickerPage * TICKER_PAGE;
    const onPage = new Set(matching.slice(first, first + TICKER_PAGE));
    for (const row of tickerRows.rows) row.hidden = !onPage.has(row);
    pager.hidden = pages < 2;
    setText(pager.querySelector(".pages"), `${first + 1}–${Math.min(first + TICKER_PAGE, matching.length)} of ${matching.length}`);
    pager.querySelector(".prev").disabled = tickerPage === 0;
    pager.querySelector(".next").disabled = tickerPage >= pages - 1;
    refreshAges(); // the rows now shown: their ages were not kept while hidden
  }

  filter.addEventListener("input", () => {
    tickerPage = 0;
    paginate();
    polls.sparklines();
  });
  pager.querySelector(".prev").addEventListener("click", () => {
    tickerPage -= 1;
    paginate();
    polls.sparklines();
  });
  pager.querySelector(".next").addEventListener("click", () => {
    tickerPage += 1;
    paginate();
    polls.sparklines();
  });

  // The tickers the stream's snapshot did not hold (a listing longer than its first page), or,
  // after this page read too slowly and missed updates, all of them.
  async function loadTickers(cursor) {
    try {
      let page = { next_cursor: cursor };
      do {
        page = await getJSON(path("/tickers", {}, { cursor: page.next_cursor }));
        page.items.forEach(takeTick);
      } while (page.next_cursor);
      flush();
      setText(streamProblem, "");
    } catch (error) {
      if (isForbidden(error)) return; // the stream says so
      setText(streamProblem, "Could not read the tickers: " + describe(error) + ". Live updates go on.");
    }
  }

  async function takeTickers(kind, data) {
    if (kind === "ticker") {
      takeTick(data);
    } else if (kind === "snapshot") {
      data.items.forEach(takeTick);
      flush();
      if (data.next_cursor) await loadTickers(data.next_cursor);
    }
  }

  async function tickerComment(comment) {
    if (comment === "subscribed" || comment.startsWith("subscribed after")) {
      streamState.dataset.connects = Number(streamState.dataset.connects) + 1;
      try {
        tickStaleS = (await getJSON("/tickers/health")).max_age;
      } catch (_) {
        // the last one (60 s at first) marks stale ticks meanwhile
      }
    } else if (comment.startsWith("dropped")) {
      await loadTickers(); // this page read too slowly and missed updates: catch up
    }
  }

  function setState(state, problem) {
    streamState.dataset.state = state;
    const label = {
      live: "Live",
      token: "Waiting for a token",
      forbidden: "Not for this token",
      waiting: `Read every ${REFRESH_S} s: other tabs hold this browser's stream connections`,
    };
    setText(streamState, label[state] || "Reconnecting");
    tickerSection.classList.toggle("forbidden", state === "forbidden");
    setText(streamProblem, problem || "");
  }

  function tickerState(kind, detail, wait) {
    if (kind === "live" || kind === "waiting") setState(kind);
    else if (kind === "token") setState("token");
    else if (kind === "forbidden") setState("forbidden", notAllowed(detail));
    else if (kind === "failed") setState("reconnecting", "Live updates stopped: " + describe(detail) + ". Retrying in " + wait / 1000 + " s.");
    else if (kind === "ended") {
      setState("reconnecting");
      streamState.dataset.lastEnd = detail;
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
  setInterval(sampleQueues, QUEUE_SAMPLE_S * 1000);
  const tickerStream = follow({ target: () => "/stream/tickers", event: takeTickers, comment: tickerComment, state: tickerState, tickers: true });
  polls.tickers = () => !byStream(tickerStream) && loadTickers(); // no connection for its stream: REST
  for (const [name, [target, take, draw]] of Object.entries(STREAMS)) {
    if (STREAMED.has(name)) streams[name] = panelStream(name, "stream", target, take, draw);
  }
  pollAll();
})();
