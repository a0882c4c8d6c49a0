/* A small slippy map of our own instead of a map library: Web Mercator tiles from a template
   ({z}/{x}/{y}), pins coloured by state, drag to pan, buttons to zoom. Without a template, each
   grid is drawn as a tile of its own around its position, with its name and count. No requests
   but the tiles.
   window.gridbotMap(box, options) draws into `box`: options.tiles (the template, or ""),
   options.pins ([{lat, lon, state, id, title}]), options.grids ([{lat, lon, name, count}]),
   options.zoomIn/zoomOut (the buttons' titles), options.onPin(pin) (a pin was chosen; without it a
   pin links to #id). It returns {show(pins, grids)} to draw other pins later.
   The public board (web/board.py) shows the pins of its articles (data-lat/data-lon/data-state);
   the console (web/static/console/console.js) its own. */
(function () {
  "use strict";
  var TILE = 256;
  function project(lat, lon, z) {  /* world pixels at zoom z */
    var size = TILE * Math.pow(2, z), s = Math.sin(lat * Math.PI / 180);
    return { x: (lon + 180) / 360 * size, y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size };
  }
  // A grid drawn without tiles covers about this many metres each way.
  var GRID_METRES = 600;

  function gridbotMap(box, options) {
    var template = options.tiles || "", pins = [], grids = [];
    var width = box.clientWidth, height = box.clientHeight, zoom = 16, centre;
    box.classList.add("tilemap");
    function fit() {  /* the largest zoom that shows every pin and grid (a grid's tile whole) */
      var all = pins.concat(grids);
      if (!all.length) { zoom = 3; centre = project(35, 105, zoom); return; }
      var minX, maxX, minY, maxY;
      for (zoom = grids.length ? 15 : 17; zoom > 1; zoom -= 1) {
        var points = all.map(function (p) { return project(p.lat, p.lon, zoom); });
        var xs = points.map(function (p) { return p.x; }), ys = points.map(function (p) { return p.y; });
        minX = Math.min.apply(null, xs); maxX = Math.max.apply(null, xs);
        minY = Math.min.apply(null, ys); maxY = Math.max.apply(null, ys);
        if (maxX - minX < width - 80 && maxY - minY < height - 80) { break; }
      }
      centre = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
    }
    var layer = document.createElement("div");
    box.appendChild(layer);
    function drawTiles(left, top) {
      var count = Math.pow(2, zoom);
      for (var tx = Math.floor(left / TILE); tx <= Math.floor((left + width) / TILE); tx += 1) {
        for (var ty = Math.floor(top / TILE); ty <= Math.floor((top + height) / TILE); ty += 1) {
          if (ty < 0 || ty >= count) { continue; }
          var img = document.createElement("img");
          img.className = "tile";
          img.alt = "";
          img.draggable = false;
          img.src = template.replace("{z}", zoom).replace("{x}", ((tx % count) + count) % count).replace("{y}", ty);
          img.style.left = (tx * TILE - left) + "px";
          img.style.top = (ty * TILE - top) + "px";
          layer.appendChild(img);
        }
      }
    }
    function drawGrids(left, top) {
      grids.forEach(function (g) {
        var at = project(g.lat, g.lon, zoom), cell = document.createElement("div");
        var metresPerPixel = 156543.03 * Math.cos(g.lat * Math.PI / 180) / Math.pow(2, zoom);
        var side = Math.max(24, GRID_METRES / metresPerPixel);
        cell.className = "grid-tile" + (g.count ? " busy" : "");
        cell.style.left = (at.x - left - side / 2) + "px";
        cell.style.top = (at.y - top - side / 2) + "px";
        cell.style.width = cell.style.height = side + "px";
        cell.textContent = g.name + (g.count ? " · " + g.count : "");
        cell.title = cell.textContent;
        layer.appendChild(cell);
      });
    }
    function draw() {
      layer.textContent = "";
      var left = centre.x - width / 2, top = centre.y - height / 2;
      if (template) { drawTiles(left, top); } else { drawGrids(left, top); }
      pins.forEach(function (p) {
        var at = project(p.lat, p.lon, zoom), pin = document.createElement("a");
        pin.className = "pin dot " + p.state;
        pin.href = "#" + p.id;
        pin.title = p.title;
        pin.setAttribute("data-ticket", p.id);
        pin.style.left = (at.x - left) + "px";
        pin.style.top = (at.y - top) + "px";
        if (options.onPin) {
          pin.addEventListener("click", function (e) { e.preventDefault(); options.onPin(p); });
        }
        layer.appendChild(pin);
      });
    }
    function zoomBy(step) {
      var next = Math.max(1, Math.min(18, zoom + step)), factor = Math.pow(2, next - zoom);
      centre = { x: centre.x * factor, y: centre.y * factor };
      zoom = next;
      draw();
    }
    var controls = document.createElement("div");
    controls.className = "zoom";
    [["+", 1, options.zoomIn], ["\u2212", -1, options.zoomOut]].forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = b[0];
      button.title = b[2] || "";
      button.addEventListener("click", function () { zoomBy(b[1]); });
      controls.appendChild(button);
    });
    box.appendChild(controls);
    var dragging = null;
    box.addEventListener("pointerdown", function (e) {
      if (e.target.tagName === "BUTTON" || e.target.tagName === "A") { return; }
      dragging = { x: e.clientX, y: e.clientY };
      box.setPointerCapture(e.pointerId);
    });
    box.addEventListener("pointermove", function (e) {
      if (!dragging) { return; }
      centre = { x: centre.x - (e.clientX - dragging.x), y: centre.y - (e.clientY - dragging.y) };
      dragging = { x: e.clientX, y: e.clientY };
      draw();
    });
    box.addEventListener("pointerup", function () { dragging = null; });
    function show(newPins, newGrids) {
      pins = newPins || [];
      grids = newGrids || [];
      width = box.clientWidth;
      height = box.clientHeight;
      fit();
      draw();
    }
    show(options.pins, options.grids);
    return { show: show };
  }

  window.gridbotMap = gridbotMap;
  var board = document.getElementById("map");
  if (board && board.hasAttribute("data-tiles")) {
    gridbotMap(board, {
      tiles: board.getAttribute("data-tiles"),
      zoomIn: board.getAttribute("data-zoom-in"),
      zoomOut: board.getAttribute("data-zoom-out"),
      pins: Array.prototype.slice.call(document.querySelectorAll("article[data-lat]")).map(function (a) {
        return { lat: parseFloat(a.getAttribute("data-lat")), lon: parseFloat(a.getAttribute("data-lon")),
                 state: a.getAttribute("data-state"), id: a.id, title: a.getAttribute("data-title") };
      })
    });
  }
}());
