/* The console (web/console/pages.py): the tickets, a ticket's card and actions, the map and the
   figures, all from /app/api/ with the Mini App's initData in "Authorization: tma …".
   The initData: window.Telegram.WebApp.initData when a client (or a test) provides it, else the
   #tgWebAppData=… Telegram puts in the address; kept in sessionStorage for reloads. */
(function () {
  "use strict";
  var words = JSON.parse(document.getElementById("words").textContent);
  var KEPT = "gridbot-console-init-data";
  var POLL_MS = 2000;
  var state = { view: "tickets", page: 1, ticket: null, cursor: null, me: null, grids: null, map: null,
                figures: null, figuresAsked: {} };
  var query = new URLSearchParams(location.search);

  function $(selector, root) { return (root || document).querySelector(selector); }
  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function say(text) { $("#status").textContent = text || ""; }

  // -- Telegram -------------------------------------------------------------------------------
  function telegram() { return window.Telegram && window.Telegram.WebApp; }
  function initData() {
    var app = telegram(), found = app && app.initData;
    if (!found) {
      found = new URLSearchParams(location.hash.slice(1)).get("tgWebAppData");
    }
    if (found) {
      try { sessionStorage.setItem(KEPT, found); } catch (e) { /* private mode: kept for this page only */ }
      return found;
    }
    try { return sessionStorage.getItem(KEPT) || ""; } catch (e) { return ""; }
  }
  function postEvent(type, data) {  /* as telegram-web-app.js sends its events */
    var payload = JSON.stringify(data || {});
    try {
      if (window.TelegramWebviewProxy) {
        window.TelegramWebviewProxy.postEvent(type, payload);
      } else if (window.parent !== window) {
        window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data || {} }), "https://web.telegram.org");
      }
    } catch (e) { /* not in Telegram */ }
  }
  function ready() {
    var app = telegram();
    if (app && app.ready) { app.ready(); if (app.expand) { app.expand(); } return; }
    postEvent("web_app_ready");
    postEvent("web_app_expand");
  }

  // -- the API --------------------------------------------------------------------------------
  var signature = initData();
  function api(path, options) {
    options = options || {};
    var headers = { Authorization: "tma " + signature };
    if (options.body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(path, { method: options.method || "GET", headers: headers,
                         body: options.body === undefined ? undefined : JSON.stringify(options.body) })
      .then(function (response) {
        if (options.blob && response.ok) { return response.blob(); }
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) {
            var error = new Error(data.error || words.failed);
            error.status = response.status;
            throw error;
          }
          return data;
        });
      });
  }
  function failed(error) { say(error && error.message ? error.message : words.failed); }
  var clock = new Intl.DateTimeFormat("sv-SE", { timeZone: words.timezone, year: "numeric", month: "2-digit",
                                                   day: "2-digit", hour: "2-digit", minute: "2-digit" });
  function formatTime(iso) {  /* "2025-11-22 16:13" in the bot's time zone, as the chat shows times */
    return iso ? clock.format(new Date(iso)) : "";
  }

  // -- views ----------------------------------------------------------------------------------
  function show(view) {
    state.view = view;
    say("");
    ["tickets", "ticket", "map", "figures"].forEach(function (name) {
      $("#view-" + name).hidden = name !== view;
    });
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (button) {
      button.classList.toggle("active", button.getAttribute("data-view") === view ||
                              (view === "ticket" && button.getAttribute("data-view") === "tickets"));
    });
    if (view === "tickets") { loadTickets(); }
    if (view === "map") { loadMap(); }
    if (view === "figures") { loadFigures(state.figuresAsked); }
  }

  // -- the ticket list ------------------------------------------------------------------------
  function filterQuery() {
    var form = $("#filters"), params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name) { return; }
      if (field.type === "checkbox") { if (field.checked) { params.set(field.name, "1"); } return; }
      if (field.value) { params.set(field.name, field.value); }
    });
    params.set("page", String(state.page));
    return params;
  }
  function loadTickets() {
    return api("/app/api/tickets?" + filterQuery().toString()).then(function (data) {
      var body = $("#tickets tbody");
      body.textContent = "";
      data.tickets.forEach(function (t) {
        var row = element("tr", { "data-id": t.id, tabindex: "0" });
        if (t.overdue) { row.className = "overdue"; }
        [t.number, t.status_text, t.category_text, t.grid_name, t.holder, formatTime(t.created_at),
         formatTime(t.deadline) + (t.overdue ? " · " + words.overdue : ""), t.summary].forEach(function (value, i) {
          row.appendChild(element("td", { "data-column": String(i) }, value));
        });
        row.addEventListener("click", function () { openTicket(t.id); });
        row.addEventListener("keydown", function (e) { if (e.key === "Enter") { openTicket(t.id); } });
        body.appendChild(row);
      });
      var pages = Math.max(1, Math.ceil(data.total / data.per_page));
      $("#page").textContent = words.page.replace("{page}", data.page).replace("{pages}", pages).replace("{total}", data.total);
      $("#previous").disabled = data.page <= 1;
      $("#next").disabled = data.page >= pages;
      say(data.tickets.length ? "" : words.none);
    }).catch(failed);
  }

  // -- a ticket -------------------------------------------------------------------------------
  /* What each action asks for, as /app/api/tickets/{id}/{action} takes it: words ("text", optional
     for a hand-over) and a choice from the card's "choices". take and urge ask for nothing. "ask" is a
     reply that asks the resident (the deadline waits for the answer), a button of its own as in the chat. */
  var NEEDS = { reply: { text: true }, ask: { text: true, via: "reply" }, note: { text: true }, resolve: { text: true },
                escalate: { text: true },
                "return": { text: true }, route: { choice: "department", text: true },
                handover: { choice: "grid", text: true, optional: true }, merge: { choice: "into" } };
  function choiceField(action, data) {
    var name = NEEDS[action].choice, field = element("select", { name: name, "aria-label": words[name] });
    var found = data.choices[action] || [];
    if (action === "route") { found = found.departments.map(function (d) { return { value: d, label: d }; }); }
    if (action === "handover") { found = found.map(function (g) { return { value: g.grid, label: g.name + " · " + g.village }; }); }
    if (action === "merge") {
      found = found.map(function (id) { return { value: String(id), label: words.prefix + "-" + ("00000" + id).slice(-6) }; });
    }
    found.forEach(function (c) { field.appendChild(element("option", { value: c.value }, c.label)); });
    return field;
  }
  function actionForm(action, data) {
    var form = element("form", { "class": "action", "data-action": action }), need = NEEDS[action], fields = [];
    if (need.choice) { fields.push(choiceField(action, data)); }
    if (need.text) { fields.push(element("textarea", { name: "text", rows: "3", "aria-label": words.text })); }
    fields.forEach(function (f) { form.appendChild(f); });
    form.appendChild(element("button", { type: "submit" }, words.send));
    var cancel = element("button", { type: "button", "class": "link" }, words.cancel);
    cancel.addEventListener("click", function () { form.remove(); });
    form.appendChild(cancel);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = {};
      fields.forEach(function (f) { if (f.value || !need.optional) { body[f.name] = f.value; } });
      if (need.via) { body.ask = true; }
      form.querySelector("button[type=submit]").disabled = true;
      api("/app/api/tickets/" + data.ticket.id + "/" + (need.via || action), { method: "POST", body: body }).then(function () {
        say(words.done);
        openTicket(data.ticket.id, true);
      }).catch(function (error) {
        form.querySelector("button[type=submit]").disabled = false;
        failed(error);
      });
    });
    return form;
  }
  function renderTicket(data) {
    var t = data.ticket, box = $("#ticket");
    box.textContent = "";
    box.setAttribute("data-id", t.id);
    box.appendChild(element("h2", {}, t.number + " · " + t.status_text));
    var meta = [t.kind_text, t.category_text, t.grid_name, t.holder, t.assignee, formatTime(t.created_at)];
    if (t.deadline) { meta.push(words.deadline + " " + formatTime(t.deadline) + (t.overdue ? " · " + words.overdue : "")); }
    box.appendChild(element("p", { "class": "meta" }, meta.filter(Boolean).join(" · ")));
    box.appendChild(element("pre", { "class": "card" }, t.description));
    if (t.resident || t.callback_phone) {
      box.appendChild(element("p", { "class": "meta" }, [t.resident, t.callback_phone].filter(Boolean).join(" · ")));
    }
    if (data.photos.length) {
      var photos = element("div", { "class": "photos" });
      data.photos.forEach(function (p) { photos.appendChild(element("img", { src: p.url, alt: "", loading: "lazy" })); });
      box.appendChild(photos);
    }
    var actions = element("div", { "class": "actions" }), forms = element("div", { "class": "forms" });
    var offered = [];
    data.actions.forEach(function (name) { offered.push(name); if (name === "reply") { offered.push("ask"); } });
    offered.forEach(function (name) {
      var button = element("button", { type: "button", "data-action": name }, words[name] || name);
      button.addEventListener("click", function () {
        if (!NEEDS[name]) {
          button.disabled = true;
          api("/app/api/tickets/" + t.id + "/" + name, { method: "POST", body: {} }).then(function () {
            say(words.done);
            openTicket(t.id, true);
          }).catch(function (error) { button.disabled = false; failed(error); });
          return;
        }
        forms.textContent = "";
        forms.appendChild(actionForm(name, data));
        var first = forms.querySelector("textarea, select, input");
        if (first) { first.focus(); }
      });
      actions.appendChild(button);
    });
    box.appendChild(actions);
    box.appendChild(forms);
    box.appendChild(element("h3", {}, words.history));
    var list = element("ol", { "class": "history" });
    data.history.forEach(function (line) { list.appendChild(element("li", {}, formatTime(line.at) + " · " + line.text)); });
    box.appendChild(list);
  }
  function openTicket(id, keepStatus) {
    state.ticket = id;
    if (!keepStatus) { say(words.loading); }
    return api("/app/api/tickets/" + id).then(function (data) {
      if (state.view !== "ticket") { show("ticket"); }
      if (!keepStatus) { say(""); }
      renderTicket(data);
    }).catch(failed);
  }

  // -- the map --------------------------------------------------------------------------------
  function loadMap() {
    var form = $("#map-filters"), params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (f) { if (f.name && f.value) { params.set(f.name, f.value); } });
    return api("/app/api/map?" + params.toString()).then(function (data) {
      var pins = data.pins.map(function (p) {
        return { lat: p.lat, lon: p.lon, state: p.state, id: p.number, ticket: p.id,
                 title: p.number + " · " + p.status_text + " · " + p.category_text };
      });
      var grids = data.tiles ? [] : data.grids.filter(function (g) { return g.lat !== null; }).map(function (g) {
        return { lat: g.lat, lon: g.lon, name: g.name, count: g.open };
      });
      if (!state.map) {
        var box = $("#console-map");
        state.map = window.gridbotMap(box, { tiles: data.tiles, pins: pins, grids: grids,
                                             zoomIn: "+", zoomOut: "\u2212",
                                             onPin: function (p) { openTicket(p.ticket); } });
      } else {
        state.map.show(pins, grids);
      }
      $("#unplaced").textContent = data.unplaced ? words.no_location.replace("{count}", data.unplaced) : "";
    }).catch(failed);
  }

  // -- the figures ----------------------------------------------------------------------------
  function percent(value) { return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%"; }
  function figuresQuery(asked) {
    var params = new URLSearchParams();
    Object.keys(asked).forEach(function (key) { if (asked[key] !== undefined) { params.set(key, asked[key]); } });
    return params.toString();
  }
  function chip(label, asked) {
    var button = element("button", { type: "button", "class": "chip" }, label);
    button.addEventListener("click", function () { loadFigures(asked); });
    return button;
  }
  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    return node;
  }
  function trendChart(trend) {
    /* The rates week by week as lines; a legend entry hides or shows its line, a point tells its value. */
    var width = 480, height = 220, left = 40, bottom = 30, top = 10, weeks = trend.weeks;
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, "class": "trend", role: "img" });
    chart.appendChild(svg("title", {})).textContent = words.trend;
    var step = weeks.length > 1 ? (width - left - 10) / (weeks.length - 1) : 0;
    function y(value) { return top + (1 - value) * (height - top - bottom); }
    [0, 0.5, 1].forEach(function (v) {
      chart.appendChild(svg("line", { x1: left, x2: width - 10, y1: y(v), y2: y(v), "class": "axis" }));
      chart.appendChild(svg("text", { x: 2, y: y(v) + 4, "class": "label" })).textContent = (v * 100) + "%";
    });
    weeks.forEach(function (w, i) {
      if (i % 2 === 0 || weeks.length < 7) {
        chart.appendChild(svg("text", { x: left + i * step - 12, y: height - 8, "class": "label" })).textContent = w.week.slice(5);
      }
    });
    var legend = element("p", { "class": "chart-legend" });
    trend.rates.forEach(function (rate, r) {
      var group = svg("g", { "class": "series s" + r, "data-rate": rate.key }), points = [];
      weeks.forEach(function (w, i) {
        var value = w.rates[rate.key];
        if (value === null || value === undefined) { return; }
        points.push((left + i * step) + "," + y(value));
        var dot = svg("circle", { cx: left + i * step, cy: y(value), r: 3.5 });
        dot.appendChild(svg("title", {})).textContent = rate.title + " · " + w.week + ": " + percent(value) +
          " (" + words.received + " " + w.received + ")";
        group.appendChild(dot);
      });
      group.insertBefore(svg("polyline", { points: points.join(" ") }), group.firstChild);
      chart.appendChild(group);
      var toggle = element("button", { type: "button", "class": "series-toggle s" + r, "aria-pressed": "true" }, rate.title);
      toggle.addEventListener("click", function () {
        var on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        group.style.display = on ? "" : "none";
      });
      legend.appendChild(toggle);
    });
    var box = element("div", { "class": "chart" });
    box.appendChild(chart);
    box.appendChild(legend);
    return box;
  }
  function scorecardTable(level, rates) {
    var table = element("table", { "class": "scorecard", "data-level": level.level });
    var head = element("tr");
    [words.rank, words.unit, words.received, words.closed, words.overdue_n, words.score].concat(
      rates.map(function (r) { return r.title; })).forEach(function (label) { head.appendChild(element("th", {}, label)); });
    table.appendChild(element("thead")).appendChild(head);
    var body = element("tbody");
    level.units.forEach(function (u) {
      var row = element("tr", { "data-key": u.key });
      if (level.red.indexOf(u.key) >= 0) { row.className = "red"; row.title = words.red; }
      if (level.black.indexOf(u.key) >= 0) { row.className = "black"; row.title = words.black; }
      [u.rank || "–", u.parent ? u.name + " (" + u.parent + ")" : u.name, u.received, u.closed, u.overdue,
       percent(u.score)].concat(rates.map(function (r) { return percent(u.rates[r.key]); })).forEach(function (value) {
        row.appendChild(element("td", {}, value));
      });
      body.appendChild(row);
    });
    table.appendChild(body);
    var box = element("div", { "class": "table" });
    box.appendChild(table);
    return box;
  }
  function download(kind) {
    return api("/app/api/figures." + kind + "?" + figuresQuery(state.figuresAsked), { blob: true }).then(function (blob) {
      var link = element("a", { href: URL.createObjectURL(blob),
                                download: "stats_" + state.figures.period + "." + kind });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }).catch(failed);
  }
  function renderFigures(data) {
    var box = $("#figures");
    box.textContent = "";
    var head = element("div", { "class": "figures-head" });
    head.appendChild(element("h2", {}, data.period + " · " + data.scope.title));
    var periods = element("p", { "class": "chips" });
    if (data.periods.previous) { periods.appendChild(chip("◀ " + data.periods.previous, { period: data.periods.previous, level: data.scope.level, name: data.scope.name })); }
    [["week", words.week], ["month", words.month], ["quarter", words.quarter]].forEach(function (k) {
      periods.appendChild(chip(k[1], { period: data.periods[k[0]], level: data.scope.level, name: data.scope.name }));
    });
    if (data.periods.next) { periods.appendChild(chip(data.periods.next + " ▶", { period: data.periods.next, level: data.scope.level, name: data.scope.name })); }
    head.appendChild(periods);
    var scopes = element("p", { "class": "chips" });
    if (data.parent) { scopes.appendChild(chip("⬆ " + data.parent.title, { period: data.period, level: data.parent.level, name: data.parent.name })); }
    data.children.forEach(function (s) { scopes.appendChild(chip(s.title, { period: data.period, level: s.level, name: s.name })); });
    head.appendChild(scopes);
    var downloads = element("p", { "class": "downloads" });
    [["xlsx", "Excel"], ["csv", "CSV"]].forEach(function (d) {
      var button = element("button", { type: "button", "data-download": d[0] }, "⬇ " + d[1]);
      button.addEventListener("click", function () { download(d[0]); });
      downloads.appendChild(button);
    });
    head.appendChild(downloads);
    box.appendChild(head);
    if (!data.final) { box.appendChild(element("p", { "class": "muted" }, "⏳ " + words.so_far)); }
    var totals = element("div", { "class": "totals" });
    [["received", words.received], ["closed", words.closed], ["open_at_end", words.open_at_end],
     ["overdue", words.overdue_n], ["urges", words.urges]].forEach(function (k) {
      var card = element("div", { "class": "total", "data-figure": k[0] });
      card.appendChild(element("strong", {}, data.totals[k[0]]));
      card.appendChild(element("span", {}, k[1]));
      totals.appendChild(card);
    });
    box.appendChild(totals);
    var rates = element("table", { "class": "rates" }), body = element("tbody");
    data.rates.forEach(function (r) {
      var row = element("tr", { "data-rate": r.key }), delta = data.totals.change[r.key];
      row.appendChild(element("th", {}, r.title));
      row.appendChild(element("td", {}, percent(data.totals.rates[r.key])));
      row.appendChild(element("td", { "class": "muted", title: words.change },
                              delta === null || delta === undefined ? "" : (delta >= 0 ? "+" : "−") + Math.abs(delta * 100).toFixed(1)));
      body.appendChild(row);
    });
    rates.appendChild(body);
    box.appendChild(rates);
    box.appendChild(element("h3", {}, words.trend));
    box.appendChild(trendChart(data.trend));
    data.scorecards.forEach(function (level) {
      box.appendChild(element("h3", {}, level.title));
      box.appendChild(scorecardTable(level, data.trend.rates));
    });
    var details = element("details");
    details.appendChild(element("summary", {}, words.report));
    details.appendChild(element("pre", {}, data.text));
    box.appendChild(details);
  }
  function loadFigures(asked) {
    state.figuresAsked = asked || {};
    say(words.loading);
    return api("/app/api/figures?" + figuresQuery(state.figuresAsked)).then(function (data) {
      state.figures = data;
      say("");
      renderFigures(data);
    }).catch(failed);
  }

  // -- live: what changed since the last look ---------------------------------------------------
  function poll() {
    if (document.hidden || !state.me) { return; }
    api("/app/api/changes" + (state.cursor === null ? "" : "?since=" + encodeURIComponent(state.cursor))).then(function (data) {
      var first = state.cursor === null;
      state.cursor = data.cursor;
      if (first || !(data.tickets || []).length) { return; }
      if (state.view === "tickets") { loadTickets(); }
      if (state.view === "map") { loadMap(); }
      if (state.view === "ticket" && data.tickets.indexOf(state.ticket) >= 0) { openTicket(state.ticket, true); }
    }).catch(function () { /* the next poll tries again */ });
  }

  // -- start ------------------------------------------------------------------------------------
  function start(me) {
    state.me = me;
    $("#who").textContent = me.user.name + " · " + me.roles.map(function (r) {
      return r.scope ? r.text + " " + r.scope : r.text; }).join(", ");
    var allowed = { tickets: me.can.tickets, map: me.can.tickets, figures: me.can.figures };
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (button) {
      var view = button.getAttribute("data-view");
      button.hidden = !allowed[view];
      button.addEventListener("click", function () { show(view); });
    });
    $("#filters").addEventListener("submit", function (e) { e.preventDefault(); state.page = 1; loadTickets(); });
    $("#filters").addEventListener("change", function () { state.page = 1; loadTickets(); });
    $("#map-filters").addEventListener("change", loadMap);
    $("#previous").addEventListener("click", function () { state.page -= 1; loadTickets(); });
    $("#next").addEventListener("click", function () { state.page += 1; loadTickets(); });
    $("#back").textContent = words.back;
    $("#back").addEventListener("click", function () { show("tickets"); });
    // The address the bot's button opened: ?view=tickets&overdue=1, ?view=figures&period=…&level=…&name=…
    ["status", "tier", "category", "grid", "q", "from", "to"].forEach(function (name) {
      if (query.get(name)) { $("#filters").elements[name].value = query.get(name); }
    });
    ["overdue", "waiting"].forEach(function (name) {
      if (query.get(name)) { $("#filters").elements[name].checked = true; }
    });
    ["period", "level", "name"].forEach(function (name) {
      if (query.has(name)) { state.figuresAsked[name] = query.get(name); }
    });
    api("/app/api/map").then(function (data) {  /* the grids of the person's area, for the filter */
      var select = $("#filters").elements.grid;
      data.grids.forEach(function (g) { select.appendChild(element("option", { value: g.code }, g.name + " · " + g.village)); });
      if (query.get("grid")) { select.value = query.get("grid"); }
    }).catch(function () {});
    var view = query.get("view") || "tickets";
    show(allowed[view] ? view : (me.can.tickets ? "tickets" : "figures"));
    poll();
    setInterval(poll, POLL_MS);
  }

  ready();
  if (!signature) { say(words.signin); return; }
  say(words.loading);
  api("/app/api/me").then(function (me) {
    var language = me.language === "zh" ? "zh-CN" : me.language;
    if (document.documentElement.lang !== language) {  /* the page in the language chosen in the bot */
      query.set("lang", me.language);
      location.replace(location.pathname + "?" + query.toString());
      return;
    }
    say("");
    start(me);
  }).catch(failed);
}());
